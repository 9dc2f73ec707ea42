// Tests of the tiny JSON writer: escaping, UTF-8 handling, numbers, objects.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "cli/json.h"

namespace nos::cli {
namespace {

TEST(JsonString, EscapesQuotesBackslashesAndControls) {
  EXPECT_EQ(json_string("plain"), "\"plain\"");
  EXPECT_EQ(json_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(json_string("\n\t\r\b\f"), "\"\\n\\t\\r\\b\\f\"");
  EXPECT_EQ(json_string(std::string("\x01\x1f", 2)), "\"\\u0001\\u001f\"");
  EXPECT_EQ(json_string(std::string("a\0b", 3)), "\"a\\u0000b\"");
  EXPECT_EQ(json_string("/"), "\"/\"");
}

TEST(JsonString, KeepsValidUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(json_string("m\xcc\x82 \xce\xb3 \xf0\x9f\x99\x82"), "\"m\xcc\x82 \xce\xb3 \xf0\x9f\x99\x82\"");
  EXPECT_EQ(json_string("\xff"), "\"\\ufffd\"");
  EXPECT_EQ(json_string("\xc3"), "\"\\ufffd\"");              // truncated sequence
  EXPECT_EQ(json_string("\xc0\xaf"), "\"\\ufffd\\ufffd\"");    // overlong '/'
  EXPECT_EQ(json_string("\xed\xa0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");  // a UTF-16 surrogate
}

TEST(JsonNumber, RoundTripsAndWritesNullForNonFinite) {
  EXPECT_EQ(json_number(0.1), "0.1");
  EXPECT_EQ(json_number(24.2), "24.2");
  EXPECT_EQ(json_number(-3), "-3");
  EXPECT_EQ(json_number(1e300), "1e+300");
  EXPECT_EQ(std::stod(json_number(1.0 / 3.0)), 1.0 / 3.0);
  EXPECT_EQ(json_number(std::numeric_limits<double>::quiet_NaN()), "null");
  EXPECT_EQ(json_number(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_number(-std::numeric_limits<double>::infinity()), "null");
}

TEST(JsonObject, BuildsInInsertionOrder) {
  JsonObject o;
  o.add_string("name", "x\"y")
      .add_number("lr", 0.5)
      .add_int("steps", -2)
      .add_uint("seed", 18446744073709551615ull)
      .add_bool("ok", true)
      .add_numbers("point", {1.5, std::nan("")})
      .add_numbers("empty", {});
  EXPECT_EQ(o.str(),
            "{\"name\":\"x\\\"y\",\"lr\":0.5,\"steps\":-2,\"seed\":18446744073709551615,\"ok\":true,"
            "\"point\":[1.5,null],\"empty\":[]}");
  EXPECT_EQ(JsonObject().str(), "{}");
}

TEST(JsonObject, NestsArraysOfObjects) {
  JsonObject a, b;
  a.add_int("epoch", 1).add_number("val_acc", 0.5);
  b.add_int("epoch", 2);
  JsonObject o;
  o.add_objects("epochs", {a, b}).add_objects("none", {});
  EXPECT_EQ(o.str(), "{\"epochs\":[{\"epoch\":1,\"val_acc\":0.5},{\"epoch\":2}],\"none\":[]}");
}

}  // namespace
}  // namespace nos::cli
