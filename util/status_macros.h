// Status propagation macros, written once for the whole tree (Abseil 20220623 has none).
//
//   RETURN_IF_ERROR(DoThing());
//   ASSIGN_OR_RETURN(auto value, ComputeValue());
//
// Both evaluate their argument exactly once. Thread-safety: not applicable.
#pragma once

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define ROSTER_STATUS_CONCAT_INNER(a, b) a##b
#define ROSTER_STATUS_CONCAT(a, b) ROSTER_STATUS_CONCAT_INNER(a, b)

#define RETURN_IF_ERROR(expr)                        \
  do {                                               \
    ::absl::Status roster_status_ = (expr);          \
    if (!roster_status_.ok()) return roster_status_; \
  } while (false)

#define ASSIGN_OR_RETURN(lhs, expr) \
  ROSTER_ASSIGN_OR_RETURN_IMPL(ROSTER_STATUS_CONCAT(roster_statusor_, __LINE__), lhs, expr)

#define ROSTER_ASSIGN_OR_RETURN_IMPL(statusor, lhs, expr)  \
  auto statusor = (expr);                                  \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = std::move(statusor).value()
