#include "cluster/heartbeat_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "glog/logging.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "simdjson.h"

namespace roster::cluster {
namespace {

using google::protobuf::FieldDescriptor;
using roster::v1::DolphinHeartbeatJson;

// simdjson refuses deeper documents (with max_depth N it takes fewer than N levels), so every
// document read here passes the codec's 32-level check (FindTooDeep in heartbeat_codec.cc)
// without running it. DolphinScheduler's heartbeats are one level deep.
constexpr size_t kMaxDepth = 16;
// Integers up to 2^53 are exact as doubles: an integer-spelled double field reads the same
// through protobuf (int64, then a checked cast) and here.
constexpr int64_t kMaxExactInteger = int64_t{1} << 53;
// Each thread's parser keeps the capacity of the largest document it read: larger payloads
// (only under a raised --max_heartbeat_bytes) are protobuf's, so that stays bounded.
constexpr size_t kMaxBytes = 64 * 1024;

// A field of DolphinHeartbeatJson, as protobuf's JSON parser finds it by key.
struct Field {
  absl::string_view key;
  int number;
  int index;  // its bit in the "already seen" mask
};

// The fields by key. protobuf's JSON parser looks a key up by json_name, then by the field's
// own name (TypeInfo::FindField, protobuf 3.21), exactly: both keys map to the field here,
// taken from the descriptor. Bucketed by key length: a lookup compares a few short strings.
class FieldTable {
 public:
  FieldTable() {
    const google::protobuf::Descriptor* descriptor = DolphinHeartbeatJson::descriptor();
    CHECK_LE(descriptor->field_count(), 64) << "the seen-mask holds 64 fields";
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const FieldDescriptor* field = descriptor->field(i);
      for (const std::string* key : {&field->json_name(), &field->name()}) {
        if (Find(*key) != nullptr) continue;  // json_name == name
        CHECK_LT(key->size(), kMaxKey) << *key;
        by_length_[key->size()].push_back(Field{*key, field->number(), i});
      }
    }
  }

  const Field* Find(absl::string_view key) const {
    if (key.size() >= kMaxKey) return nullptr;
    for (const Field& field : by_length_[key.size()]) {
      if (field.key == key) return &field;
    }
    return nullptr;
  }

 private:
  static constexpr size_t kMaxKey = 40;
  std::vector<Field> by_length_[kMaxKey];
};

const FieldTable& Fields() {
  static const FieldTable* const fields = new FieldTable;
  return *fields;
}

simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser = [] {
    simdjson::dom::parser p;
    // A failure leaves the parser unallocated: its first parse then allocates with the
    // default depth, and the depth check below refuses every document instead.
    if (p.allocate(4096, kMaxDepth) != simdjson::SUCCESS) {
      LOG(WARNING) << "simdjson cannot allocate its parser: this thread's heartbeats are read "
                      "by protobuf's JSON parser";
    }
    return p;
  }();
  return parser;
}

// A JSON number as protobuf reads it into a double field: false where protobuf's reading may
// differ (an integer beyond 2^53, which protobuf casts from int64 or uint64).
bool NumberAsDouble(simdjson::dom::element value, double* out) {
  switch (value.type()) {
    case simdjson::dom::element_type::DOUBLE:
      // Both correctly rounded (strtod in protobuf); out-of-range numbers fail both parsers.
      *out = value.get_double().value_unsafe();
      return true;
    case simdjson::dom::element_type::INT64: {
      const int64_t i = value.get_int64().value_unsafe();
      if (i > kMaxExactInteger || i < -kMaxExactInteger) return false;
      *out = static_cast<double>(i);
      return true;
    }
    default:
      return false;
  }
}

// A double field: a number, or one of the three strings protobuf reads as a non-finite double
// (DataPiece::ToDouble, protobuf 3.21; Jackson writes NaN so). Other strings are declined:
// protobuf reads some ("0.5") with strtod rules that are not worth copying.
bool ReadDouble(simdjson::dom::element value, double* out) {
  if (value.type() != simdjson::dom::element_type::STRING) return NumberAsDouble(value, out);
  const std::string_view s = value.get_string().value_unsafe();
  if (s == "NaN") {
    *out = std::numeric_limits<double>::quiet_NaN();
  } else if (s == "Infinity") {
    *out = std::numeric_limits<double>::infinity();
  } else if (s == "-Infinity") {
    *out = -std::numeric_limits<double>::infinity();
  } else {
    return false;
  }
  return true;
}

// serverStatus, a google.protobuf.Value: a string or a number (a bool, null, object or array
// is declined: protobuf builds a Value the codec refuses or ignores, read by protobuf).
bool ReadStatus(simdjson::dom::element value, google::protobuf::Value* out) {
  if (value.type() == simdjson::dom::element_type::STRING) {
    const std::string_view s = value.get_string().value_unsafe();
    out->set_string_value(s.data(), s.size());
    return true;
  }
  double d = 0;
  if (!NumberAsDouble(value, &d)) return false;
  out->set_number_value(d);
  return true;
}

// An int32 field: an integer in range (protobuf also takes "12", 12.0 and 1.2e1, and words its
// own error for an integer out of range: declined, read by protobuf).
bool ReadInt32(simdjson::dom::element value, int32_t* out) {
  if (value.type() != simdjson::dom::element_type::INT64) return false;
  const int64_t i = value.get_int64().value_unsafe();
  if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max()) {
    return false;
  }
  *out = static_cast<int32_t>(i);
  return true;
}

// An int64 field: an integer of int64's range (a larger one is protobuf's error).
bool ReadInt64(simdjson::dom::element value, int64_t* out) {
  if (value.type() != simdjson::dom::element_type::INT64) return false;
  *out = value.get_int64().value_unsafe();
  return true;
}

bool ReadString(simdjson::dom::element value, std::string_view* out) {
  return value.get_string().get(*out) == simdjson::SUCCESS;
}

// Sets the integer or string field `number` of `json` from `value` as protobuf would; false to
// decline (also for a field this reader does not know).
bool SetOtherField(int number, simdjson::dom::element value, DolphinHeartbeatJson* json) {
  int32_t i = 0;
  int64_t l = 0;
  std::string_view s;
  switch (number) {
    case DolphinHeartbeatJson::kProcessIdFieldNumber:
      if (!ReadInt32(value, &i)) return false;
      json->set_processid(i);
      return true;
    case DolphinHeartbeatJson::kPortFieldNumber:
      if (!ReadInt32(value, &i)) return false;
      json->set_port(i);
      return true;
    case DolphinHeartbeatJson::kWorkerHostWeightFieldNumber:
      if (!ReadInt32(value, &i)) return false;
      json->set_workerhostweight(i);
      return true;
    case DolphinHeartbeatJson::kWorkerExecThreadCountFieldNumber:
      if (!ReadInt32(value, &i)) return false;
      json->set_workerexecthreadcount(i);
      return true;
    case DolphinHeartbeatJson::kWorkerWaitingTaskCountFieldNumber:
      if (!ReadInt32(value, &i)) return false;
      json->set_workerwaitingtaskcount(i);
      return true;
    case DolphinHeartbeatJson::kStartupTimeFieldNumber:
      if (!ReadInt64(value, &l)) return false;
      json->set_startuptime(l);
      return true;
    case DolphinHeartbeatJson::kReportTimeFieldNumber:
      if (!ReadInt64(value, &l)) return false;
      json->set_reporttime(l);
      return true;
    case DolphinHeartbeatJson::kHostFieldNumber:
      if (!ReadString(value, &s)) return false;
      json->set_host(s.data(), s.size());
      return true;
    case DolphinHeartbeatJson::kWorkerGroupFieldNumber:
      if (!ReadString(value, &s)) return false;
      json->set_workergroup(s.data(), s.size());
      return true;
    case DolphinHeartbeatJson::kServerStatusFieldNumber:
      return ReadStatus(value, json->mutable_serverstatus());
    default:
      return false;
  }
}

// The setter of each double field, by number; nullptr for the others.
using DoubleSetter = void (DolphinHeartbeatJson::*)(double);
DoubleSetter DoubleField(int number) {
  switch (number) {
    case DolphinHeartbeatJson::kCpuUsageFieldNumber:
      return &DolphinHeartbeatJson::set_cpuusage;
    case DolphinHeartbeatJson::kMemoryUsageFieldNumber:
      return &DolphinHeartbeatJson::set_memoryusage;
    case DolphinHeartbeatJson::kDiskUsageFieldNumber:
      return &DolphinHeartbeatJson::set_diskusage;
    case DolphinHeartbeatJson::kJvmCpuUsageFieldNumber:
      return &DolphinHeartbeatJson::set_jvmcpuusage;
    case DolphinHeartbeatJson::kJvmMemoryUsageFieldNumber:
      return &DolphinHeartbeatJson::set_jvmmemoryusage;
    case DolphinHeartbeatJson::kThreadPoolUsageFieldNumber:
      return &DolphinHeartbeatJson::set_threadpoolusage;
    case DolphinHeartbeatJson::kLoadAverageFieldNumber:
      return &DolphinHeartbeatJson::set_loadaverage;
    case DolphinHeartbeatJson::kAvailablePhysicalMemorySizeFieldNumber:
      return &DolphinHeartbeatJson::set_availablephysicalmemorysize;
    case DolphinHeartbeatJson::kReservedMemoryFieldNumber:
      return &DolphinHeartbeatJson::set_reservedmemory;
    case DolphinHeartbeatJson::kMaxCpuloadAvgFieldNumber:
      return &DolphinHeartbeatJson::set_maxcpuloadavg;
    case DolphinHeartbeatJson::kDiskAvailableFieldNumber:
      return &DolphinHeartbeatJson::set_diskavailable;
    default:
      return nullptr;
  }
}

// Sets field `number` of `json` from `value` as protobuf would; false to decline.
bool SetField(int number, simdjson::dom::element value, DolphinHeartbeatJson* json) {
  if (const DoubleSetter set = DoubleField(number); set != nullptr) {
    double d = 0;
    if (!ReadDouble(value, &d)) return false;
    (json->*set)(d);
    return true;
  }
  return SetOtherField(number, value, json);
}

NumberSpelling SpellingOf(simdjson::dom::element value) {
  switch (value.type()) {
    case simdjson::dom::element_type::INT64:
    case simdjson::dom::element_type::UINT64:
      return NumberSpelling::kInteger;  // simdjson types "-0" and "12" as integers, as spelled
    case simdjson::dom::element_type::DOUBLE:
      return NumberSpelling::kDecimal;  // and only a '.' or an exponent makes a double
    default:
      return NumberSpelling::kOther;
  }
}

}  // namespace

bool ReadHeartbeatJsonFast(absl::string_view payload, DolphinHeartbeatJson* json,
                           NumberSpelling* thread_pool) {
  // Escapes are where JSON parsers differ most (surrogates, \u0000, error messages): payloads
  // that use them (DolphinScheduler's never do) are protobuf's.
  if (payload.size() > kMaxBytes || payload.find('\\') != absl::string_view::npos) return false;
  simdjson::dom::parser& parser = ThreadParser();
  if (parser.max_depth() > kMaxDepth) return false;
  simdjson::dom::element root;
  // Strict RFC 8259 JSON, UTF-8 checked, the whole document validated (unknown members too);
  // anything simdjson refuses is read (and its error worded) by protobuf.
  if (parser.parse(payload.data(), payload.size()).get(root) != simdjson::SUCCESS) return false;
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return false;
  const FieldTable& fields = Fields();
  uint64_t seen = 0;
  *thread_pool = NumberSpelling::kAbsent;
  for (const simdjson::dom::key_value_pair member : object) {
    const Field* field = fields.Find(absl::string_view(member.key.data(), member.key.size()));
    if (field == nullptr) {
      // ignore_unknown_fields, except an empty key, which protobuf refuses at the top ("Proto
      // fields must have a name"; nested in an unknown member it is skipped).
      if (member.key.empty()) return false;
      continue;
    }
    const uint64_t bit = uint64_t{1} << field->index;
    // protobuf refuses a repeated proto3 optional field and overwrites serverStatus: either
    // way, protobuf's.
    if ((seen & bit) != 0) return false;
    seen |= bit;
    if (!SetField(field->number, member.value, json)) return false;
    if (field->number == DolphinHeartbeatJson::kThreadPoolUsageFieldNumber) {
      *thread_pool = SpellingOf(member.value);
    }
  }
  return true;
}

}  // namespace roster::cluster
