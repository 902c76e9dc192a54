#include "cluster/ds_version.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace roster::cluster {

absl::StatusOr<DsVersion> ParseDsVersion(absl::string_view text) {
  struct Name {
    absl::string_view text;
    DsVersion version;
  };
  static constexpr Name kNames[] = {
      {"auto", DsVersion::kAuto},   {"2.0", DsVersion::k2_0},     {"3.0", DsVersion::k3_0},
      {"3.1.0", DsVersion::k3_1_0}, {"3.1", DsVersion::k3_1},     {"3.2.0", DsVersion::k3_2_0},
      {"3.2.1", DsVersion::k3_2_1}, {"3.2.2", DsVersion::k3_2_2}, {"3.2", DsVersion::k3_2_2},
      {"3.3", DsVersion::k3_3},     {"dev", DsVersion::k3_3},
  };

  for (const Name& name : kNames) {
    if (text == name.text) return name.version;
  }
  // Patch releases that behave like their minor's row: 2.0.x, 3.0.x, 3.1.1 - 3.1.9.
  if (absl::StartsWith(text, "2.0.") && text.size() == 5) return DsVersion::k2_0;
  if (absl::StartsWith(text, "3.0.") && text.size() == 5) return DsVersion::k3_0;
  if (absl::StartsWith(text, "3.1.") && text.size() == 5 && text[4] >= '1' && text[4] <= '9') {
    return DsVersion::k3_1;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown DolphinScheduler version '", text,
      "' (--dolphinscheduler_version): expected auto, 2.0, 3.0, 3.1.0, 3.1, 3.2.0, 3.2.1, "
      "3.2.2, 3.2 (= 3.2.2), 3.3, or a patch release such as 3.1.9"));
}

absl::string_view DsVersionName(DsVersion version) {
  switch (version) {
    case DsVersion::kAuto:
      return "auto";
    case DsVersion::k2_0:
      return "2.0";
    case DsVersion::k3_0:
      return "3.0";
    case DsVersion::k3_1_0:
      return "3.1.0";
    case DsVersion::k3_1:
      return "3.1";
    case DsVersion::k3_2_0:
      return "3.2.0";
    case DsVersion::k3_2_1:
      return "3.2.1";
    case DsVersion::k3_2_2:
      return "3.2.2";
    case DsVersion::k3_3:
      return "3.3";
  }
  return "unknown";
}

std::string DsVersionSetName(DsVersionSet set) {
  if (set == 0) return "none";
  if ((set & kAnyDsVersion) == kAnyDsVersion) return "any";
  std::vector<absl::string_view> names;
  for (int v = 1; v < kDsVersionCount; ++v) {
    if (set & (1u << v)) names.push_back(DsVersionName(static_cast<DsVersion>(v)));
  }
  return absl::StrJoin(names, ", ");
}

}  // namespace roster::cluster
