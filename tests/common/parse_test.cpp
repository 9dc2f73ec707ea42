// Negative and unit tests of the text parsers every config key and flag reads through (common/parse.h): each value
// read, each bad one refused with its exact message.
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "common/error.h"
#include "common/parse.h"

namespace nos {
namespace {

// The message of the UserError `f` throws ("" when it throws none).
std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

TEST(Parse, WholeNumbersInTheirRange) {
  EXPECT_EQ(parse_whole<int64_t>("42", 1, 100), 42);
  EXPECT_EQ(parse_whole<int64_t>("-1", -1, 100), -1);
  EXPECT_EQ(parse_whole<uint64_t>("18446744073709551615", 0), UINT64_MAX);
  EXPECT_EQ(parse_whole<int>("1024", 1, 1024), 1024);
  EXPECT_EQ(message_of([] { parse_whole<int>("1025", 1, 1024); }), "expected a whole number in [1, 1024], got '1025'");
  EXPECT_EQ(message_of([] { parse_whole<int>("0", 1, 1024); }), "expected a whole number in [1, 1024], got '0'");
  for (const char* bad : {"", "1.5", "abc", "7x", " 7", "1e3"}) {
    EXPECT_EQ(message_of([&] { parse_whole<int64_t>(bad, 1, 9); }),
              "expected a whole number in [1, 9], got '" + std::string(bad) + "'")
        << bad;
  }
  // Without an upper bound the message says ">= min"; a negative text for an unsigned type is refused.
  EXPECT_EQ(message_of([] { parse_whole<int64_t>("zero", 1); }), "expected a whole number >= 1, got 'zero'");
  EXPECT_EQ(message_of([] { parse_whole<uint64_t>("-1", 0); }), "expected a whole number >= 0, got '-1'");
  EXPECT_EQ(message_of([] { parse_whole<int>("99999999999", 1); }), "expected a whole number >= 1, got '99999999999'");
}

TEST(Parse, WholeOrAuto) {
  EXPECT_EQ(parse_whole_or_auto<int>("auto", 1, 4096), 0);
  EXPECT_EQ(parse_whole_or_auto<int>("8", 1, 4096), 8);
  EXPECT_EQ(message_of([] { parse_whole_or_auto<int>("0", 1, 4096); }),
            "expected auto or a whole number in [1, 4096], got '0'");
  EXPECT_EQ(message_of([] { parse_whole_or_auto<int>("many", 1, 4096); }),
            "expected auto or a whole number in [1, 4096], got 'many'");
}

TEST(Parse, FiniteNumbersAboveTheirMinimum) {
  EXPECT_EQ(parse_number("0.001", 0), 0.001);
  EXPECT_EQ(parse_number("1e-3", 0, false), 0.001);
  EXPECT_EQ(parse_number("0", 0), 0.0);
  EXPECT_EQ(message_of([] { parse_number("0", 0, false); }), "must be > 0, got '0'");
  EXPECT_EQ(message_of([] { parse_number("-0.5", 0); }), "must be >= 0, got '-0.5'");
  for (const char* bad : {"", "fast", "nan", "inf", "-inf", "1e-3x", "1e999"}) {
    EXPECT_EQ(message_of([&] { parse_number(bad, 0); }), "expected a finite number, got '" + std::string(bad) + "'")
        << bad;
  }
}

TEST(Parse, BooleansInEverySpelling) {
  for (const char* yes : {"true", "yes", "on", "1"}) EXPECT_TRUE(parse_bool(yes)) << yes;
  for (const char* no : {"false", "no", "off", "0"}) EXPECT_FALSE(parse_bool(no)) << no;
  EXPECT_EQ(message_of([] { parse_bool("maybe"); }), "expected true or false, got 'maybe'");
  EXPECT_EQ(message_of([] { parse_bool("True "); }), "expected true or false, got 'True '");
}

TEST(Parse, ChoicesAsWritten) {
  EXPECT_EQ(parse_choice("float64", {"float32", "float64"}), "float64");
  EXPECT_EQ(message_of([] { parse_choice("half", {"float32", "float64"}); }),
            "expected one of float32, float64, got 'half'");
  EXPECT_EQ(message_of([] { parse_choice("Float32", {"float32", "float64"}); }),
            "expected one of float32, float64, got 'Float32'");
}

TEST(Parse, PositiveNumberLists) {
  EXPECT_EQ(parse_positive_numbers("[1e-4, 0.01]"), (std::vector<double>{1e-4, 0.01}));
  EXPECT_EQ(parse_positive_numbers("1e-4,0.01,1"), (std::vector<double>{1e-4, 0.01, 1}));
  EXPECT_EQ(parse_positive_numbers(" 0.5 "), (std::vector<double>{0.5}));
  for (const char* bad : {"", "[]", "1e-3,,1e-2", "1e-3,-1", "0.1,0", "0.1,x", "1e-3,", "[0.1, nan]"}) {
    EXPECT_EQ(message_of([&] { parse_positive_numbers(bad); }),
              "expected a non-empty list of numbers > 0, got '" + std::string(bad) + "'")
        << bad;
  }
}

TEST(Parse, Lists) {
  EXPECT_EQ(parse_list("a, b ,c", "letters"), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(parse_list("[1, 2]", "sizes"), (std::vector<std::string>{"1", "2"}));
  const auto size = [](const std::string& s) { return parse_whole<int64_t>(s, 1); };
  EXPECT_EQ(parse_list("4,8", "sizes", size), (std::vector<int64_t>{4, 8}));
  for (const char* bad : {"", "[]", "1,,2", "1,", " , "}) {
    EXPECT_EQ(message_of([&] { parse_list(bad, "sizes"); }),
              "expected a comma-separated list of sizes, got '" + std::string(bad) + "'")
        << bad;
  }
  EXPECT_EQ(message_of([&] { parse_list("4,0", "sizes", size); }), message_of([] { parse_whole<int64_t>("0", 1); }));
}

TEST(Parse, ParsedAtPutsThePlaceInFront) {
  EXPECT_EQ(parsed_at("--steps", [] { return parse_whole<int64_t>("12", 1); }), 12);
  EXPECT_EQ(message_of([] { parsed_at("--steps", [] { return parse_whole<int64_t>("abc", 1); }); }),
            "--steps: expected a whole number >= 1, got 'abc'");
  // Only user errors get the place: a bug stays a bug.
  EXPECT_THROW(parsed_at("--x", []() -> int { throw InternalError("invariant"); }), InternalError);
}

}  // namespace
}  // namespace nos
