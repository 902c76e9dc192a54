// LogSafe: what a client can put into a log line through a request field.
#include "util/log_escape.h"

#include <string>

#include "gtest/gtest.h"

namespace roster {
namespace {

TEST(LogSafeTest, PlainTextIsKept) {
  EXPECT_EQ(LogSafe("kernel upgrade, ticket OPS-42"), "kernel upgrade, ticket OPS-42");
  // UTF-8 text (an operator's language) is kept as it is.
  EXPECT_EQ(LogSafe("维护 café"), "维护 café");
}

TEST(LogSafeTest, ALineCannotBeForged) {
  EXPECT_EQ(LogSafe("ok\nI1202 12:00:00 rosterd] drained everything"),
            "ok\\nI1202 12:00:00 rosterd] drained everything");
  EXPECT_EQ(LogSafe("a\r\tb"), "a\\r\\tb");
  // The escape character itself is escaped, so "\n" typed by a client stays distinguishable.
  EXPECT_EQ(LogSafe("a\\nb"), "a\\\\nb");
}

TEST(LogSafeTest, TerminalAndDisplayControlsAreEscaped) {
  EXPECT_EQ(LogSafe("\x1b[2Jhidden"), "\\x1b[2Jhidden");
  EXPECT_EQ(LogSafe(std::string("a\0b", 3)), "a\\x00b");
  EXPECT_EQ(LogSafe("\x7f"), "\\x7f");
  // U+0085 (NEL, a C1 control), U+2028 (line separator), U+202E (right-to-left override).
  EXPECT_EQ(LogSafe("a\xc2\x85"
                    "b"),
            "a\\u{0085}b");
  EXPECT_EQ(LogSafe("a\xe2\x80\xa8"
                    "b"),
            "a\\u{2028}b");
  EXPECT_EQ(LogSafe("a\xe2\x80\xae"
                    "b"),
            "a\\u{202E}b");
}

TEST(LogSafeTest, InvalidUtf8BytesAreEscaped) {
  EXPECT_EQ(LogSafe("\xff\xfe"), "\\xff\\xfe");
  EXPECT_EQ(LogSafe("\xc3"), "\\xc3");                    // truncated sequence
  EXPECT_EQ(LogSafe("\xc0\x8a"), "\\xc0\\x8a");           // overlong '\n'
  EXPECT_EQ(LogSafe("\xed\xa0\x80"), "\\xed\\xa0\\x80");  // a UTF-16 surrogate
}

TEST(LogSafeTest, LongTextIsCut) {
  EXPECT_EQ(LogSafe(std::string(10, 'x'), 4), "xxxx...(6 more bytes)");
  EXPECT_EQ(LogSafe("abcd", 4), "abcd");
}

}  // namespace
}  // namespace roster
