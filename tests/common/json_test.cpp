// Tests of the tiny JSON writer: escaping, UTF-8 handling, numbers, objects.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "common/error.h"
#include "common/json.h"

namespace nos {
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

// The reader: what JsonObject writes reads back field by field (numbers as their text, so integers stay exact), and
// bad text is an error naming its source and byte.
TEST(JsonValue, ReadsBackWhatJsonObjectWrites) {
  const std::string text = JsonObject()
                               .add_string("s", "a\"b\n\u00e9")
                               .add_int("i", -9007199254740993)
                               .add_number("x", 0.1)
                               .add_number("nan", std::nan(""))
                               .add_bool("t", true)
                               .add_numbers("v", {1, 2.5})
                               .add_object("o", JsonObject().add_int("k", 7))
                               .str();
  const JsonValue v = parse_json(text, "test");
  ASSERT_EQ(v.kind, JsonValue::Kind::kObject);
  ASSERT_EQ(v.fields.size(), 7u);
  EXPECT_EQ(v.get("s")->text, "a\"b\n\u00e9");
  EXPECT_EQ(v.get("i")->text, "-9007199254740993");
  EXPECT_EQ(v.get("x")->text, "0.1");
  EXPECT_EQ(v.get("nan")->kind, JsonValue::Kind::kNull);
  EXPECT_TRUE(v.get("t")->boolean);
  ASSERT_EQ(v.get("v")->items.size(), 2u);
  EXPECT_EQ(v.get("v")->items[1].text, "2.5");
  EXPECT_EQ(v.get("o")->get("k")->text, "7");
  EXPECT_EQ(v.get("missing"), nullptr);
  try {
    parse_json("{\"a\":1,}", "runs.jsonl");
    FAIL() << "a trailing comma parsed";
  } catch (const InternalError& e) {
    EXPECT_NE(std::string(e.what()).find("runs.jsonl: bad JSON at byte 7"), std::string::npos) << e.what();
  }
  EXPECT_THROW(parse_json("{\"a\":1} x", "t"), InternalError);
  EXPECT_THROW(parse_json(std::string(40, '[') + std::string(40, ']'), "t"), InternalError);
}

}  // namespace
}  // namespace nos
