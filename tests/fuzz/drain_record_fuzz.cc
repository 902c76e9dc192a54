// Fuzzes ParseDrainRecord (cluster/drain_record.h), what every replica runs on the drain
// records under {drains}: hand-written ones included. The input's first line is the znode
// name, the rest its payload.
//
// Properties: an accepted record's address is its znode name, canonical; writing its reason
// and time back (EncodeDrainRecord) reads back the same; errors are InvalidArgument, bounded
// and escaped.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "cluster/drain_record.h"
#include "cluster/node_address.h"
#include "tests/fuzz/fuzz_util.h"

namespace roster::fuzz {
namespace {

constexpr absl::string_view kDrains = "/roster/drains";

void FuzzDrain(absl::string_view input) {
  const size_t newline = input.find('\n');
  const absl::string_view name = input.substr(0, newline);
  const absl::string_view data =
      newline == absl::string_view::npos ? absl::string_view() : input.substr(newline + 1);
  const std::string path = absl::StrCat(kDrains, "/", name);
  absl::StatusOr<cluster::DrainEntry> entry = cluster::ParseDrainRecord(kDrains, path, data);
  if (!entry.ok()) {
    Check(absl::IsInvalidArgument(entry.status()), "a bad record is InvalidArgument", input);
    CheckMessage(entry.status(), 1024);
    return;
  }
  Check(entry->address == name && cluster::ParseNodeAddress(name).ok(),
        "an accepted record is named by its canonical address", input);
  const std::string written =
      cluster::EncodeDrainRecord(entry->reason, absl::FromUnixMillis(entry->drained_at_ms));
  absl::StatusOr<cluster::DrainEntry> again = cluster::ParseDrainRecord(kDrains, path, written);
  Check(again.ok(), "a written record reads back", input);
  Check(again->reason == entry->reason && again->drained_at_ms == entry->drained_at_ms,
        "a written record reads back the same reason and time", input);
}

}  // namespace
}  // namespace roster::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  roster::fuzz::FuzzDrain(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
