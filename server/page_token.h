// AIP-158 pagination of roster's node listings (ListWorkers, GetWorkerGroup, GetClusterView).
//
// A page token is opaque to clients: the web-safe base64 of a small record holding a format
// version, the request it continues (its method and filters, spelled out, so a token replayed
// with other filters is refused by name) and the key of the last node returned. Pages are keyed
// by that key (a node's address, in GetClusterView prefixed by its role), not by the view
// version: the next page starts after it in whatever view is current, so a token never expires.
// proto/roster/v1/roster.proto ("Pagination") states the consistency clients get.
//
// Thread-safety: pure functions.
#pragma once

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster::server {

// page_size 0 means this many nodes: every group up to this size still comes in one answer.
inline constexpr int kDefaultPageSize = 1000;
// A larger page_size is served as this many nodes (AIP-158 coerces, it does not refuse).
inline constexpr int kMaxPageSize = 10000;

struct PageToken {
  // The request the token continues, as PageRequest::request describes it.
  std::string request;
  // The key of the last node of the previous page; the next page starts after it.
  std::string after;
};

std::string EncodePageToken(const PageToken& token);
// InvalidArgument "page_token: ..." when `text` is not a token EncodePageToken wrote.
absl::StatusOr<PageToken> DecodePageToken(absl::string_view text);

// One page request, validated.
struct PageRequest {
  int size = kDefaultPageSize;  // nodes on this page, at most
  std::string after;            // start after this key; empty: the first page
  std::string request;          // the request, for the next token
  bool first() const { return after.empty(); }
};

// Checks `page_size` (>= 0; 0 is kDefaultPageSize, above kMaxPageSize is kMaxPageSize) and
// `page_token` against `request`, a readable description of the method and its filters
// ("GetWorkerGroup(name=etl, selectable_only=false, view=FULL)"). InvalidArgument naming the
// field when the size is negative, the token malformed, or issued for another request.
absl::StatusOr<PageRequest> ToPageRequest(int32_t page_size, absl::string_view page_token,
                                          std::string request);

// The token that continues `page` after `last_key`.
inline std::string NextPageToken(const PageRequest& page, absl::string_view last_key) {
  return EncodePageToken(PageToken{page.request, std::string(last_key)});
}

}  // namespace roster::server
