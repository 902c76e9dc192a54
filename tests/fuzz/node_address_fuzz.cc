// Fuzzes ParseNodeAddress and ValidateGroupName (cluster/node_address.h) with the same bytes.
// Properties: an accepted address is returned unchanged, parses again, is printable ASCII
// without whitespace and ends in ":<port>" with a port in [1, 65535]; an accepted group name
// keeps the documented rules; every error is InvalidArgument with a bounded, escaped message.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "cluster/node_address.h"
#include "tests/fuzz/fuzz_util.h"

namespace roster::fuzz {
namespace {

void FuzzAddress(absl::string_view text) {
  absl::StatusOr<std::string> address = cluster::ParseNodeAddress(text);
  if (!address.ok()) {
    Check(absl::IsInvalidArgument(address.status()), "a bad address is InvalidArgument", text);
    CheckMessage(address.status(), 1024);
    return;
  }
  Check(*address == text, "an accepted address is returned unchanged", text);
  Check(IsPrintableAscii(*address) && !absl::StrContains(*address, ' '),
        "an accepted address is printable ASCII without spaces", text);
  absl::StatusOr<std::string> again = cluster::ParseNodeAddress(*address);
  Check(again.ok() && *again == *address, "an accepted address parses again to itself", text);
  const size_t colon = address->rfind(':');
  Check(colon != std::string::npos && colon > 0, "an accepted address has a host and ':'", text);
  int port = 0;
  Check(absl::SimpleAtoi(address->substr(colon + 1), &port) && port >= 1 && port <= 65535 &&
            std::to_string(port) == address->substr(colon + 1),
        "an accepted address ends in a canonical port in [1, 65535]", text);
  if ((*address)[0] == '[') {
    Check((*address)[colon - 1] == ']', "a bracketed host ends with ']' before the port", text);
  }
}

void FuzzGroupName(absl::string_view name) {
  absl::Status valid = cluster::ValidateGroupName(name, "group");
  if (!valid.ok()) {
    Check(absl::IsInvalidArgument(valid), "a bad group name is InvalidArgument", name);
    CheckMessage(valid, 1024);
    return;
  }
  Check(!name.empty() && name.size() <= 128, "an accepted group name has 1..128 bytes", name);
  Check(IsPrintableAscii(name), "an accepted group name is printable ASCII", name);
  Check(!absl::StrContains(name, '/') && name != "." && name != "..",
        "an accepted group name is a path segment", name);
  Check(name.front() != ' ' && name.back() != ' ', "an accepted group name is trimmed", name);
}

}  // namespace
}  // namespace roster::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  roster::fuzz::FuzzAddress(input);
  roster::fuzz::FuzzGroupName(input);
  return 0;
}
