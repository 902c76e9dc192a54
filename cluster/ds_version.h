// DolphinScheduler releases as roster names them, and the release a cluster view answers as.
// The profiles themselves (what each release writes and computes) are in ds_profile.h; this
// header is small so that the view can carry the detection (docs/dolphinscheduler.md).
//
// Thread-safety: values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster::cluster {

// The releases whose behaviour differs, oldest first. kAuto: detect.
enum class DsVersion {
  kAuto,
  k2_0,    // 2.0.0 - 2.0.9
  k3_0,    // 3.0.0 - 3.0.6
  k3_1_0,  // 3.1.0 (the last with group directories in the registry)
  k3_1,    // 3.1.1 - 3.1.9
  k3_2_0,  // 3.2.0
  k3_2_1,  // 3.2.1
  k3_2_2,  // 3.2.2
  k3_3,    // 3.3 (dev)
};
constexpr int kDsVersionCount = 9;

// "auto", a minor ("3.2": its last patch release, 3.2.2), or a release ("3.2.0", "3.1.9").
// InvalidArgument naming the text and the accepted values otherwise.
absl::StatusOr<DsVersion> ParseDsVersion(absl::string_view text);
absl::string_view DsVersionName(DsVersion version);  // "auto", "2.0", ..., "3.2.2", "3.3"

// A set of releases, one bit per DsVersion (kAuto's bit unused).
using DsVersionSet = uint32_t;
constexpr DsVersionSet kAnyDsVersion = ((1u << kDsVersionCount) - 1) & ~1u;
inline DsVersionSet DsBit(DsVersion version) { return 1u << static_cast<int>(version); }
// "3.2.0, 3.2" / "any" / "none".
std::string DsVersionSetName(DsVersionSet set);

// The release rosterd answers as, and why.
struct DsDetection {
  DsVersion version = DsVersion::kAuto;  // never kAuto once decided
  bool detected = false;                 // from the registry (false: named by the flag)
  bool mixed = false;                    // nodes look like different releases
  std::string reason;                    // for ViewMeta, rosterctl and the logs
  // The releases every node's heartbeat fits ("10.0.0.1:5678" -> "3.2.0, 3.2"), when mixed.
  std::vector<std::pair<std::string, std::string>> per_node;

  friend bool operator==(const DsDetection& a, const DsDetection& b) {
    return a.version == b.version && a.detected == b.detected && a.mixed == b.mixed &&
           a.reason == b.reason && a.per_node == b.per_node;
  }
  friend bool operator!=(const DsDetection& a, const DsDetection& b) { return !(a == b); }
};

}  // namespace roster::cluster
