#include "server/page_token.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace roster::server {
namespace {

// Format version 1: "1", the request and the key, separated by NUL bytes (neither a request
// description nor a node key holds one).
constexpr absl::string_view kFormat = "1";
constexpr char kSeparator = '\0';

absl::Status Malformed(absl::string_view why) {
  return absl::InvalidArgumentError(absl::StrCat(
      "page_token: ", why,
      ": send a next_page_token exactly as received, or no page_token for the first page"));
}

}  // namespace

std::string EncodePageToken(const PageToken& token) {
  std::string raw = absl::StrCat(kFormat, absl::string_view(&kSeparator, 1), token.request,
                                 absl::string_view(&kSeparator, 1), token.after);
  return absl::WebSafeBase64Escape(raw);
}

absl::StatusOr<PageToken> DecodePageToken(absl::string_view text) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(text, &raw)) return Malformed("is not web-safe base64");
  std::vector<std::string> parts = absl::StrSplit(raw, kSeparator);
  if (parts.size() != 3 || parts[0] != kFormat) {
    return Malformed("is not a page token of this rosterd's format");
  }
  if (parts[2].empty()) return Malformed("names no position");
  return PageToken{std::move(parts[1]), std::move(parts[2])};
}

absl::StatusOr<PageRequest> ToPageRequest(int32_t page_size, absl::string_view page_token,
                                          std::string request) {
  if (page_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("page_size: ", page_size, " is negative (0 means ", kDefaultPageSize, ")"));
  }
  PageRequest page;
  page.size = page_size == 0 ? kDefaultPageSize : std::min(page_size, kMaxPageSize);
  if (!page_token.empty()) {
    absl::StatusOr<PageToken> token = DecodePageToken(page_token);
    if (!token.ok()) return token.status();
    if (token->request != request) {
      return absl::InvalidArgumentError(
          absl::StrCat("page_token: was issued for ", token->request, ", not for ", request,
                       ": repeat the first page's filters, or send no page_token to start over"));
    }
    page.after = std::move(token->after);
  }
  page.request = std::move(request);
  return page;
}

}  // namespace roster::server
