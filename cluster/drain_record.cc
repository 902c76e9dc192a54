#include "cluster/drain_record.h"

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "cluster/node_address.h"
#include "google/protobuf/util/json_util.h"
#include "registry/registry.h"
#include "roster/v1/records.pb.h"

namespace roster::cluster {
namespace {

// At most this many bytes of protobuf's reason are kept: it may quote the payload.
constexpr size_t kReasonBytes = 160;

}  // namespace

std::string EncodeDrainRecord(absl::string_view reason, absl::Time drained_at) {
  roster::v1::DrainRecord record;
  record.set_reason(std::string(reason));
  record.set_drained_at_ms(absl::ToUnixMillis(drained_at));
  std::string json;
  (void)google::protobuf::util::MessageToJsonString(record, &json);
  return json;
}

absl::StatusOr<DrainEntry> ParseDrainRecord(absl::string_view drains_path, absl::string_view path,
                                            absl::string_view data) {
  absl::StatusOr<std::string> address = ParseNodeAddress(registry::BaseName(path));
  if (!address.ok() || registry::ParentPath(path) != drains_path) {
    return absl::InvalidArgumentError("the name is not host:port");
  }
  roster::v1::DrainRecord record;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  const google::protobuf::util::Status parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(data.data(), data.size()), &record, options);
  if (!parsed.ok()) {
    const absl::string_view why(parsed.message().data(), parsed.message().size());
    return absl::InvalidArgumentError(absl::StrCat("the payload is not a DrainRecord in JSON: ",
                                                   absl::CHexEscape(why.substr(0, kReasonBytes))));
  }
  return DrainEntry{*std::move(address), record.reason(), record.drained_at_ms()};
}

}  // namespace roster::cluster
