// Unit tests of the shared text formatting (common/text.h): exact strings.
#include <gtest/gtest.h>

#include <limits>

#include "common/text.h"

namespace nos {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

TEST(Text, FormatNumberIsShortestRoundTrip) {
  EXPECT_EQ(format_number(0.1), "0.1");
  EXPECT_EQ(format_number(1e-8), "1e-08");
  EXPECT_EQ(format_number(0.0001), "0.0001");
  EXPECT_EQ(format_number(1500), "1500");
  EXPECT_EQ(format_number(1e20), "1e+20");
  EXPECT_EQ(format_number(-0.0), "0");
  EXPECT_EQ(format_number(kNaN), "nan");
  EXPECT_EQ(format_number(-kInf), "-inf");
}

TEST(Text, FixedNamesNonFiniteValues) {
  EXPECT_EQ(fixed(0.81254, 4), "0.8125");
  EXPECT_EQ(fixed(2.0, 1), "2.0");
  EXPECT_EQ(fixed(kNaN, 4), "-");
  EXPECT_EQ(fixed(kInf, 4, "–"), "–");
}

TEST(Text, Duration) {
  EXPECT_EQ(duration(12.4), "12s");
  EXPECT_EQ(duration(187), "3m07s");
  EXPECT_EQ(duration(3720), "1h02m");
  EXPECT_EQ(duration(-5), "0s");
  EXPECT_EQ(duration(kNaN), "?");
}

TEST(Text, JoinedAndShellQuote) {
  EXPECT_EQ(joined({"a", "b", "c"}), "a, b, c");
  EXPECT_EQ(joined({}), "");
  EXPECT_EQ(shell_quote("plain"), "'plain'");
  EXPECT_EQ(shell_quote("it's"), "'it'\\''s'");
}

TEST(Text, JoinedOr) {
  EXPECT_EQ(joined_or({"a", "b", "c"}), "a, b or c");
  EXPECT_EQ(joined_or({"a", "b"}), "a or b");
  EXPECT_EQ(joined_or({"a"}), "a");
  EXPECT_EQ(joined_or({}), "");
}

}  // namespace
}  // namespace nos
