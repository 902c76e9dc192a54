// A stable 64-bit fingerprint (FNV-1a): the same bytes give the same value in every process,
// build and machine, unlike absl::Hash, whose seed differs per process. Used where replicas
// must agree on an identifier, such as the slot-assignment epoch.
//
// Thread-safety: a value type.
#pragma once

#include <cstdint>

#include "absl/strings/string_view.h"

namespace roster {

class Fingerprint {
 public:
  Fingerprint& Add(absl::string_view bytes) {
    for (unsigned char c : bytes) {
      hash_ ^= c;
      hash_ *= kPrime;
    }
    // A separator, so ("ab", "c") and ("a", "bc") differ.
    hash_ ^= 0xff;
    hash_ *= kPrime;
    return *this;
  }

  Fingerprint& Add(int64_t value) {
    for (int i = 0; i < 8; ++i) {
      hash_ ^= static_cast<uint64_t>(value >> (8 * i)) & 0xff;
      hash_ *= kPrime;
    }
    return *this;
  }

  uint64_t value() const { return hash_; }

 private:
  static constexpr uint64_t kOffsetBasis = 14695981039346656037ull;
  static constexpr uint64_t kPrime = 1099511628211ull;
  uint64_t hash_ = kOffsetBasis;
};

}  // namespace roster
