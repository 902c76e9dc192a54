#include "cluster/heartbeat_json.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "glog/logging.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/struct.pb.h"
#include "simdjson.h"

namespace roster::cluster {
namespace {

using google::protobuf::FieldDescriptor;
using roster::v1::DolphinHeartbeatJson;

// simdjson refuses deeper documents (with max_depth N it takes at most N levels), so every
// document read here passes the codec's 32-level check (FindTooDeep in heartbeat_codec.cc)
// without running it. DolphinScheduler's heartbeats are one level deep.
constexpr size_t kMaxDepth = 16;
// Integers up to 2^53 are exact as doubles: an integer-spelled double field reads the same
// through protobuf (int64, then a checked cast) and here.
constexpr int64_t kMaxExactInteger = int64_t{1} << 53;

// A field of DolphinHeartbeatJson, as protobuf's JSON parser finds it by key.
struct Field {
  const FieldDescriptor* descriptor;
  int index;  // its bit in the "already seen" mask
};

// protobuf's JSON parser looks a key up by json_name, then by the field's own name
// (TypeInfo::FindField, protobuf 3.21): both map to the field here, exactly, case-sensitively.
const absl::flat_hash_map<std::string, Field>& Fields() {
  static const auto* const fields = [] {
    auto* map = new absl::flat_hash_map<std::string, Field>;
    const google::protobuf::Descriptor* descriptor = DolphinHeartbeatJson::descriptor();
    CHECK_LE(descriptor->field_count(), 64) << "the seen-mask holds 64 fields";
    for (int i = 0; i < descriptor->field_count(); ++i) {
      const FieldDescriptor* field = descriptor->field(i);
      map->emplace(field->json_name(), Field{field, i});
      map->emplace(field->name(), Field{field, i});
    }
    return map;
  }();
  return *fields;
}

simdjson::dom::parser& ThreadParser() {
  thread_local simdjson::dom::parser parser = [] {
    simdjson::dom::parser p;
    // A failure leaves the parser unallocated: its first parse then allocates with the
    // default depth, and the depth check below refuses every document instead.
    if (p.allocate(4096, kMaxDepth) != simdjson::SUCCESS) LOG(WARNING) << "simdjson allocate";
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

// Sets `field` of `json` from `value` as protobuf would; false to decline.
bool SetField(const FieldDescriptor* field, simdjson::dom::element value,
              DolphinHeartbeatJson* json) {
  const google::protobuf::Reflection* reflection = json->GetReflection();
  const simdjson::dom::element_type type = value.type();
  switch (field->cpp_type()) {
    case FieldDescriptor::CPPTYPE_INT32: {
      // protobuf also takes "12", 12.0 and 1.2e1: declined here, read by protobuf.
      if (type != simdjson::dom::element_type::INT64) return false;
      const int64_t i = value.get_int64().value_unsafe();
      if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max()) {
        return false;  // protobuf's error message, from protobuf
      }
      reflection->SetInt32(json, field, static_cast<int32_t>(i));
      return true;
    }
    case FieldDescriptor::CPPTYPE_INT64:
      if (type != simdjson::dom::element_type::INT64) return false;
      reflection->SetInt64(json, field, value.get_int64().value_unsafe());
      return true;
    case FieldDescriptor::CPPTYPE_DOUBLE: {
      double d = 0;
      if (!ReadDouble(value, &d)) return false;
      reflection->SetDouble(json, field, d);
      return true;
    }
    case FieldDescriptor::CPPTYPE_STRING: {
      if (type != simdjson::dom::element_type::STRING) return false;
      const std::string_view s = value.get_string().value_unsafe();
      reflection->SetString(json, field, std::string(s));
      return true;
    }
    case FieldDescriptor::CPPTYPE_MESSAGE:
      if (field->message_type() != google::protobuf::Value::descriptor()) return false;
      return ReadStatus(
          value, static_cast<google::protobuf::Value*>(reflection->MutableMessage(json, field)));
    default:
      return false;  // a type this reader does not know: protobuf reads it
  }
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
  if (payload.find('\\') != absl::string_view::npos) return false;
  simdjson::dom::parser& parser = ThreadParser();
  if (parser.max_depth() > kMaxDepth) return false;
  simdjson::dom::element root;
  // Strict RFC 8259 JSON, UTF-8 checked, the whole document validated (unknown members too);
  // anything simdjson refuses is read (and its error worded) by protobuf.
  if (parser.parse(payload.data(), payload.size()).get(root) != simdjson::SUCCESS) return false;
  simdjson::dom::object object;
  if (root.get_object().get(object) != simdjson::SUCCESS) return false;
  const auto& fields = Fields();
  uint64_t seen = 0;
  *thread_pool = NumberSpelling::kAbsent;
  for (const simdjson::dom::key_value_pair member : object) {
    const auto it = fields.find(absl::string_view(member.key.data(), member.key.size()));
    if (it == fields.end()) {
      // ignore_unknown_fields, except an empty key, which protobuf refuses at the top ("Proto
      // fields must have a name"; nested in an unknown member it is skipped).
      if (member.key.empty()) return false;
      continue;
    }
    const Field& field = it->second;
    const uint64_t bit = uint64_t{1} << field.index;
    // protobuf refuses a repeated proto3 optional field and overwrites serverStatus: either
    // way, protobuf's.
    if ((seen & bit) != 0) return false;
    seen |= bit;
    if (!SetField(field.descriptor, member.value, json)) return false;
    if (field.descriptor->number() == DolphinHeartbeatJson::kThreadPoolUsageFieldNumber) {
      *thread_pool = SpellingOf(member.value);
    }
  }
  return true;
}

}  // namespace roster::cluster
