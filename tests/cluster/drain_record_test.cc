// ParseDrainRecord and EncodeDrainRecord: what every replica reads from {drains}/{host}:{port},
// including records written by hand, with the reason an operator sees for a bad one.
#include "cluster/drain_record.h"

#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using ::roster::testing::StatusIs;
using ::testing::HasSubstr;

constexpr absl::string_view kDrains = "/roster/drains";

TEST(DrainRecordTest, WhatADrainWritesReadsBack) {
  const std::string json = EncodeDrainRecord("kernel upgrade", absl::FromUnixMillis(1729238660456));
  // proto3 JSON: int64 as a string, lowerCamelCase names.
  EXPECT_EQ(json, R"({"reason":"kernel upgrade","drainedAtMs":"1729238660456"})");
  ASSERT_OK_AND_ASSIGN(DrainEntry entry,
                       ParseDrainRecord(kDrains, "/roster/drains/10.0.0.1:1234", json));
  EXPECT_EQ(entry.address, "10.0.0.1:1234");
  EXPECT_EQ(entry.reason, "kernel upgrade");
  EXPECT_EQ(entry.drained_at_ms, 1729238660456);
}

TEST(DrainRecordTest, AHandWrittenRecordNeedsOnlyJson) {
  ASSERT_OK_AND_ASSIGN(DrainEntry entry,
                       ParseDrainRecord(kDrains, "/roster/drains/[::1]:80",
                                        R"({"reason":"x","drained_at_ms":5,"by":["ops"]})"));
  EXPECT_EQ(entry.address, "[::1]:80");
  EXPECT_EQ(entry.reason, "x");
  EXPECT_EQ(entry.drained_at_ms, 5);
  ASSERT_OK_AND_ASSIGN(DrainEntry empty, ParseDrainRecord(kDrains, "/roster/drains/h:1", "{}"));
  EXPECT_EQ(empty.reason, "");
  EXPECT_EQ(empty.drained_at_ms, 0);
}

TEST(DrainRecordTest, ABadNameOrPayloadIsRefusedWithAReason) {
  EXPECT_THAT(ParseDrainRecord(kDrains, "/roster/drains/no-port", "{}"),
              StatusIs(absl::StatusCode::kInvalidArgument, "the name is not host:port"));
  EXPECT_THAT(ParseDrainRecord(kDrains, "/roster/other/h:1", "{}"),
              StatusIs(absl::StatusCode::kInvalidArgument, "the name is not host:port"));
  EXPECT_THAT(ParseDrainRecord(kDrains, "/roster/drains/a/h:1", "{}"),
              StatusIs(absl::StatusCode::kInvalidArgument, "the name is not host:port"));
  EXPECT_THAT(ParseDrainRecord(kDrains, "/roster/drains/h:1", "drained"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("the payload is not a DrainRecord in JSON: ")));
  EXPECT_THAT(ParseDrainRecord(kDrains, "/roster/drains/h:1", R"({"reason":1})"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("reason")));
}

}  // namespace
}  // namespace roster::cluster
