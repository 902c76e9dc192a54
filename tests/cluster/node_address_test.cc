// ParseNodeAddress and ValidateGroupName: tables of good and bad names with the message an
// operator would see.
#include "cluster/node_address.h"

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace roster::cluster {
namespace {

using ::roster::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

struct AddressCase {
  std::string name;
  std::string text;
  std::string error;  // empty: valid, returned unchanged
};

void PrintTo(const AddressCase& c, std::ostream* os) { *os << c.name; }

class NodeAddressTest : public ::testing::TestWithParam<AddressCase> {};

TEST_P(NodeAddressTest, Parses) {
  const AddressCase& c = GetParam();
  absl::StatusOr<std::string> result = ParseNodeAddress(c.text);
  if (c.error.empty()) {
    EXPECT_THAT(result, ::roster::testing::IsOkAndHolds(c.text));
  } else {
    EXPECT_THAT(result, StatusIs(absl::StatusCode::kInvalidArgument,
                                 AllOf(HasSubstr("is not host:port"), HasSubstr(c.error))));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, NodeAddressTest,
    ::testing::ValuesIn(std::vector<AddressCase>{
        {"Ipv4", "10.0.0.1:5678", ""},
        {"Ipv6Loopback", "[::1]:5678", ""},
        {"Ipv6", "[2001:db8::17]:1", ""},
        {"DnsName", "worker-1.example.com:65535", ""},
        {"Underscore", "my_host:80", ""},
        {"NoPort", "host", "no ':port'"},
        {"NoHost", ":5678", "the host is empty"},
        {"EmptyPort", "host:", "the port is empty"},
        {"NegativePort", "host:-1", "port '-1' is not a number in [1, 65535]"},
        {"Port0", "host:0", "port 0 is not in [1, 65535]"},
        {"Port65536", "host:65536", "port 65536 is not in [1, 65535]"},
        {"PlusSign", "host:+80", "port '+80' is not a number"},
        {"TrailingSpace", "host:80 ", "port '80 ' is not a number"},
        {"LeadingZero", "host:080", "port '080' has a leading zero"},
        {"SpaceInHost", "a b:80", "the host contains ' '"},
        {"TwoColons", "host:5678:1", "more than one ':'"},
        // Found by node_address_fuzz (tests/fuzz): inet_pton stopped at the NUL, so the
        // bytes after it were accepted as part of the address.
        {"NulInIpv6", std::string("[2001:db8::17\0junk]:1", 21),
         "'2001:db8::17\\x00junk' is not an IPv6 address"},
        {"ZoneInIpv6", "[fe80::1%eth0]:1", "is not an IPv6 address"},
        {"BareIpv6", "::1:5678", "more than one ':'"},
        {"LongName", std::string(300, 'a') + ":80", "the host is 300 bytes, over the 253-byte"},
        {"LongLabel", std::string(64, 'a') + ".example:80", "label of 64 bytes"},
        {"EmptyLabel", "a..b:80", "empty label"},
        {"TrailingDot", "host.:80", "empty label"},
        {"Empty", "", "it is empty"},
        {"Ipv6NoPort", "[::1]", "no ':port'"},
        {"Ipv6Garbage", "[zz::1]:80", "'zz::1' is not an IPv6 address"},
        {"Ipv6Unclosed", "[::1:80", "'[' without ']'"},
        {"Ipv6Empty", "[]:80", "the host is empty"},
        {"Slash", "a/b:80", "the host contains '/'"},
        {"Binary", std::string("h\0st:80", 7), R"(the host contains '\x00')"},
    }),
    [](const ::testing::TestParamInfo<AddressCase>& info) { return info.param.name; });

TEST(NodeAddressTest, ValidateGroupName) {
  for (const std::string& good :
       {std::string("etl"), std::string("default"), std::string("a b"), std::string("a..b"),
        std::string(128, 'g'), std::string("x.y-z_1")}) {
    EXPECT_OK(ValidateGroupName(good)) << good;
  }
  const std::pair<std::string, std::string> bad[] = {
      {"", "group name '' is empty"},
      {".", "group name '.' is not a valid group name"},
      {"..", "group name '..' is not a valid group name"},
      {"a/b", "group name 'a/b' contains '/'"},
      {"/", "contains '/'"},
      {" etl", "has whitespace at either end"},
      {"etl ", "has whitespace at either end"},
      {"e\ttl", "not printable ASCII at offset 1"},
      {"\xc3\xa9tl", "not printable ASCII at offset 0"},
      {std::string(129, 'g'), "is 129 bytes, over the 128-byte limit"},
  };
  for (const auto& [name, reason] : bad) {
    EXPECT_THAT(ValidateGroupName(name),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(reason)))
        << name;
  }
}

TEST(NodeAddressTest, ValidateGroupNameNamesTheValue) {
  EXPECT_THAT(ValidateGroupName("a/b", "workerGroup"),
              StatusIs(absl::StatusCode::kInvalidArgument, "workerGroup 'a/b' contains '/'"));
}

}  // namespace
}  // namespace roster::cluster
