// The table renderer and the formatting helpers rosterctl prints with.
#include "client/table.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace roster::client {
namespace {

TEST(TableTest, ColumnsAreSizedToContent) {
  Table table({"ADDRESS", "ROLE", "STATE"});
  table.AddRow({"10.0.0.1:5678", "master", "RUNNING"});
  table.AddRow({"10.0.0.22:1234", "worker", "OVERLOAD"});
  EXPECT_EQ(table.Render(),
            "ADDRESS         ROLE    STATE\n"
            "10.0.0.1:5678   master  RUNNING\n"
            "10.0.0.22:1234  worker  OVERLOAD\n");
}

TEST(TableTest, NoTrailingSpacesEvenWithEmptyLastCells) {
  Table table({"A", "B", "REASON"});
  table.AddRow({"x", "y", ""});
  table.AddRow({"longer", "", ""});
  EXPECT_EQ(table.Render(),
            "A       B  REASON\n"
            "x       y\n"
            "longer\n");
}

TEST(TableTest, RightAlignedColumns) {
  Table table({"NAME", "CPU"});
  table.AlignRight(1);
  table.AddRow({"a", "5%"});
  table.AddRow({"b", "100%"});
  EXPECT_EQ(table.Render(),
            "NAME   CPU\n"
            "a       5%\n"
            "b     100%\n");
}

TEST(TableTest, WidthCountsCharactersNotBytes) {
  Table table({"N", "X"});
  table.AddRow({"größe", "1"});
  table.AddRow({"abc", "2"});
  EXPECT_EQ(table.Render(),
            "N      X\n"
            "größe  1\n"
            "abc    2\n");
}

TEST(TableTest, HeaderlessShortAndLongRows) {
  Table table;
  table.AddRow({"key", "value"});
  table.AddRow({"a"});
  table.AddRow({"b", "c", "extra"});
  EXPECT_EQ(table.Render(),
            "key  value\n"
            "a\n"
            "b    c      extra\n");
  EXPECT_EQ(table.rows(), 3u);
}

TEST(TableTest, NewlinesInCellsDoNotBreakRows) {
  Table table({"A", "B"});
  table.AddRow({"x", "line one\nline two"});
  EXPECT_EQ(table.Render(), "A  B\nx  line one line two\n");
}

TEST(TableTest, EmptyTableWithHeader) {
  Table table({"ADDRESS", "STATE"});
  EXPECT_TRUE(table.empty());
  EXPECT_EQ(table.Render(), "ADDRESS  STATE\n");
}

TEST(FormatTest, HumanDuration) {
  EXPECT_EQ(HumanDuration(absl::ZeroDuration()), "0s");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(850)), "850ms");
  EXPECT_EQ(HumanDuration(absl::Milliseconds(12400)), "12s");
  EXPECT_EQ(HumanDuration(absl::Seconds(192)), "3m12s");
  EXPECT_EQ(HumanDuration(absl::Minutes(5)), "5m");
  EXPECT_EQ(HumanDuration(absl::Hours(2) + absl::Minutes(5)), "2h05m");
  EXPECT_EQ(HumanDuration(absl::Hours(3)), "3h");
  EXPECT_EQ(HumanDuration(absl::Hours(76)), "3d4h");
  EXPECT_EQ(HumanDuration(absl::Hours(48)), "2d");
  EXPECT_EQ(HumanDuration(-absl::Seconds(12)), "-12s");
  EXPECT_EQ(HumanDuration(absl::InfiniteDuration()), "inf");
}

TEST(FormatTest, Percent) {
  EXPECT_EQ(Percent(0.2319), "23%");
  EXPECT_EQ(Percent(0.0), "0%");
  EXPECT_EQ(Percent(1.0), "100%");
  EXPECT_EQ(Percent(1.5), "150%");
}

TEST(FormatTest, HumanTimeIsUtc) {
  EXPECT_EQ(HumanTime(absl::FromUnixSeconds(1729238400)), "2024-10-18T08:00:00Z");
  EXPECT_EQ(HumanTime(absl::InfinitePast()), "-");
}

}  // namespace
}  // namespace roster::client
