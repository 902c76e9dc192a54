#include "tests/testing/prometheus_text.h"

#include <cmath>
#include <cstdlib>
#include <set>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace roster::testing {
namespace {

bool IsNameStart(char c) { return absl::ascii_isalpha(c) || c == '_' || c == ':'; }
bool IsNameChar(char c) { return IsNameStart(c) || absl::ascii_isdigit(c); }

// Reads a metric or label name at the front of `*in`.
std::string ReadName(absl::string_view* in) {
  size_t n = 0;
  while (n < in->size() && (n == 0 ? IsNameStart((*in)[n]) : IsNameChar((*in)[n]))) ++n;
  std::string name(in->substr(0, n));
  in->remove_prefix(n);
  return name;
}

absl::StatusOr<double> ReadValue(absl::string_view text) {
  if (text == "+Inf" || text == "Inf") return HUGE_VAL;
  if (text == "-Inf") return -HUGE_VAL;
  if (text == "NaN") return std::nan("");
  std::string copy(text);
  char* end = nullptr;
  const double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size()) {
    return absl::InvalidArgumentError(absl::StrCat("bad value '", text, "'"));
  }
  return value;
}

// `{a="x",b="y"}` at the front of `*in` (the brace included).
absl::StatusOr<Labels> ReadLabels(absl::string_view* in) {
  Labels labels;
  in->remove_prefix(1);  // '{'
  while (true) {
    if (!in->empty() && in->front() == '}') break;
    const std::string key = ReadName(in);
    if (key.empty() || in->size() < 2 || (*in)[0] != '=' || (*in)[1] != '"') {
      return absl::InvalidArgumentError("bad label");
    }
    in->remove_prefix(2);
    std::string value;
    while (true) {
      if (in->empty()) return absl::InvalidArgumentError("unterminated label value");
      const char c = in->front();
      in->remove_prefix(1);
      if (c == '"') break;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (in->empty()) return absl::InvalidArgumentError("escape at end of line");
      const char e = in->front();
      in->remove_prefix(1);
      if (e == 'n') {
        value += '\n';
      } else if (e == '\\' || e == '"') {
        value += e;
      } else {
        return absl::InvalidArgumentError(absl::StrCat("bad escape '\\", std::string(1, e), "'"));
      }
    }
    if (!labels.emplace(key, std::move(value)).second) {
      return absl::InvalidArgumentError(absl::StrCat("label '", key, "' twice"));
    }
    if (!in->empty() && in->front() == ',') in->remove_prefix(1);
  }
  if (in->empty() || in->front() != '}') return absl::InvalidArgumentError("unterminated labels");
  in->remove_prefix(1);
  return labels;
}

// The family a sample named `name` belongs to, among `families`.
MetricFamily* FamilyOf(const std::string& name, std::map<std::string, MetricFamily>* families) {
  auto it = families->find(name);
  if (it != families->end()) return &it->second;
  for (absl::string_view suffix : {"_bucket", "_sum", "_count"}) {
    if (!absl::EndsWith(name, suffix)) continue;
    it = families->find(name.substr(0, name.size() - suffix.size()));
    if (it != families->end() && it->second.type == "histogram") return &it->second;
  }
  return nullptr;
}

absl::Status CheckHistogram(const MetricFamily& family) {
  // Per series (labels without le): the +Inf bucket, equal to _count.
  std::map<Labels, double> inf;
  std::map<Labels, double> count;
  for (const Sample& s : family.samples) {
    Labels series = s.labels;
    if (s.name == family.name + "_bucket") {
      auto le = series.find("le");
      if (le == series.end()) return absl::InvalidArgumentError(s.name + " without le");
      const bool is_inf = le->second == "+Inf";
      series.erase(le);
      if (is_inf) inf[series] = s.value;
    } else if (s.name == family.name + "_count") {
      count[series] = s.value;
    }
  }
  if (inf != count) {
    return absl::InvalidArgumentError(
        absl::StrCat("histogram ", family.name, ": +Inf buckets and _count disagree"));
  }
  return absl::OkStatus();
}

}  // namespace

const MetricFamily* Exposition::Family(absl::string_view name) const {
  auto it = families_.find(std::string(name));
  return it == families_.end() ? nullptr : &it->second;
}

std::optional<double> Exposition::Value(absl::string_view name, const Labels& labels) const {
  for (const auto& [family_name, family] : families_) {
    for (const Sample& s : family.samples) {
      if (s.name == name && s.labels == labels) return s.value;
    }
  }
  return std::nullopt;
}

double Exposition::Sum(absl::string_view name, const Labels& subset) const {
  double sum = 0;
  for (const Sample& s : Samples(name)) {
    bool match = true;
    for (const auto& [key, value] : subset) {
      auto it = s.labels.find(key);
      match = match && it != s.labels.end() && it->second == value;
    }
    if (match) sum += s.value;
  }
  return sum;
}

std::vector<Sample> Exposition::Samples(absl::string_view name) const {
  std::vector<Sample> out;
  for (const auto& [family_name, family] : families_) {
    for (const Sample& s : family.samples) {
      if (s.name == name) out.push_back(s);
    }
  }
  return out;
}

std::vector<std::string> Exposition::SampleNames() const {
  std::set<std::string> names;
  for (const auto& [family_name, family] : families_) {
    for (const Sample& s : family.samples) names.insert(s.name);
  }
  return {names.begin(), names.end()};
}

absl::StatusOr<Exposition> ParseExposition(absl::string_view text) {
  Exposition out;
  std::set<std::pair<std::string, Labels>> seen;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    auto fail = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat("line ", line_number, ": ", what, ": '", line, "'"));
    };
    if (line.empty()) continue;
    if (line.front() == '#') {
      std::vector<absl::string_view> parts = absl::StrSplit(line, absl::MaxSplits(' ', 3));
      if (parts.size() < 3 || (parts[1] != "HELP" && parts[1] != "TYPE")) continue;  // comment
      MetricFamily& family = out.families_[std::string(parts[2])];
      family.name = std::string(parts[2]);
      const std::string rest = parts.size() > 3 ? std::string(parts[3]) : "";
      if (parts[1] == "TYPE") {
        if (!family.type.empty()) return fail("TYPE declared twice");
        if (!family.samples.empty()) return fail("TYPE after the family's samples");
        family.type = rest;
      } else {
        family.help = rest;
      }
      continue;
    }
    absl::string_view rest = line;
    Sample sample;
    sample.name = ReadName(&rest);
    if (sample.name.empty()) return fail("no metric name");
    if (!rest.empty() && rest.front() == '{') {
      absl::StatusOr<Labels> labels = ReadLabels(&rest);
      if (!labels.ok()) return fail(labels.status().message());
      sample.labels = *std::move(labels);
    }
    if (rest.empty() || rest.front() != ' ') return fail("no value");
    std::vector<absl::string_view> fields = absl::StrSplit(rest.substr(1), ' ');
    if (fields.empty() || fields.size() > 2) return fail("bad value or timestamp");
    absl::StatusOr<double> value = ReadValue(fields[0]);
    if (!value.ok()) return fail(value.status().message());
    sample.value = *value;
    MetricFamily* family = FamilyOf(sample.name, &out.families_);
    if (family == nullptr || family->type.empty()) return fail("sample of an undeclared family");
    if (!seen.emplace(sample.name, sample.labels).second) return fail("duplicate series");
    family->samples.push_back(std::move(sample));
  }
  for (const auto& [name, family] : out.families_) {
    if (family.type.empty()) return absl::InvalidArgumentError("family " + name + " has no TYPE");
    if (family.type == "histogram") {
      absl::Status status = CheckHistogram(family);
      if (!status.ok()) return status;
    }
  }
  return out;
}

}  // namespace roster::testing
