// A reader of Prometheus' text exposition format (0.0.4) for tests: what /metrics served, as
// families and samples a test can look values up in. Independent of util/metrics.cc (the
// writer under test): it parses the text as Prometheus does, and rejects what Prometheus'
// parser rejects that a writer bug could produce (a sample of an undeclared family, a family
// declared twice, a duplicate series, a histogram without its +Inf bucket or whose _count
// differs from it, a bad escape).
//
// Thread-safety: Exposition is immutable after ParseExposition(); the function is thread-safe.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace roster::testing {

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;  // as written: "roster_rpc_duration_seconds_bucket"
  Labels labels;
  double value = 0;
};

struct MetricFamily {
  std::string name;
  std::string type;  // "counter", "gauge", "histogram", "untyped", ...
  std::string help;
  std::vector<Sample> samples;
};

class Exposition {
 public:
  const std::map<std::string, MetricFamily>& families() const { return families_; }
  const MetricFamily* Family(absl::string_view name) const;
  // The value of the sample `name` with exactly `labels`, or nullopt.
  std::optional<double> Value(absl::string_view name, const Labels& labels = {}) const;
  // The sum over the samples `name` whose labels include `subset`.
  double Sum(absl::string_view name, const Labels& subset = {}) const;
  // Every sample named `name`.
  std::vector<Sample> Samples(absl::string_view name) const;
  // Every sample name (series names: "_bucket", "_sum", "_count" of histograms included).
  std::vector<std::string> SampleNames() const;

 private:
  friend absl::StatusOr<Exposition> ParseExposition(absl::string_view text);
  std::map<std::string, MetricFamily> families_;
};

// InvalidArgument naming the line number and what is wrong.
absl::StatusOr<Exposition> ParseExposition(absl::string_view text);

}  // namespace roster::testing
