// Test helpers for absl::Status and absl::StatusOr, written once for the whole suite.
//
//   ASSERT_OK(registry->Start());
//   ASSERT_OK_AND_ASSIGN(auto node, registry->Get("/a"));
//   EXPECT_THAT(registry->Get("/missing"), StatusIs(absl::StatusCode::kNotFound,
//   HasSubstr("/missing"))); EXPECT_THAT(registry->Get("/a"), IsOkAndHolds(Field(&Node::data,
//   "x")));
#pragma once

#include <ostream>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace roster::testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& status) { return status; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

template <typename StatusType>
class StatusIsMatcherImpl : public ::testing::MatcherInterface<StatusType> {
 public:
  StatusIsMatcherImpl(::testing::Matcher<absl::StatusCode> code,
                      ::testing::Matcher<const std::string&> message)
      : code_(std::move(code)), message_(std::move(message)) {}

  void DescribeTo(std::ostream* os) const override {
    *os << "has a status code that ";
    code_.DescribeTo(os);
    *os << " and a message that ";
    message_.DescribeTo(os);
  }

  bool MatchAndExplain(StatusType value, ::testing::MatchResultListener* listener) const override {
    const absl::Status& status = GetStatus(value);
    *listener << "whose status is " << status;
    return code_.Matches(status.code()) && message_.Matches(std::string(status.message()));
  }

 private:
  ::testing::Matcher<absl::StatusCode> code_;
  ::testing::Matcher<const std::string&> message_;
};

class StatusIsMatcher {
 public:
  StatusIsMatcher(::testing::Matcher<absl::StatusCode> code,
                  ::testing::Matcher<const std::string&> message)
      : code_(std::move(code)), message_(std::move(message)) {}

  template <typename StatusType>
  operator ::testing::Matcher<StatusType>() const {  // NOLINT: implicit by design
    return ::testing::MakeMatcher(
        new StatusIsMatcherImpl<const std::decay_t<StatusType>&>(code_, message_));
  }

 private:
  ::testing::Matcher<absl::StatusCode> code_;
  ::testing::Matcher<const std::string&> message_;
};

template <typename StatusOrType>
class IsOkAndHoldsMatcherImpl : public ::testing::MatcherInterface<StatusOrType> {
 public:
  using ValueType = typename std::decay_t<StatusOrType>::value_type;

  explicit IsOkAndHoldsMatcherImpl(::testing::Matcher<const ValueType&> inner)
      : inner_(std::move(inner)) {}

  void DescribeTo(std::ostream* os) const override {
    *os << "is OK and has a value that ";
    inner_.DescribeTo(os);
  }

  bool MatchAndExplain(StatusOrType value,
                       ::testing::MatchResultListener* listener) const override {
    if (!value.ok()) {
      *listener << "which has status " << value.status();
      return false;
    }
    return inner_.MatchAndExplain(*value, listener);
  }

 private:
  ::testing::Matcher<const ValueType&> inner_;
};

template <typename InnerMatcher>
class IsOkAndHoldsMatcher {
 public:
  explicit IsOkAndHoldsMatcher(InnerMatcher inner) : inner_(std::move(inner)) {}

  template <typename StatusOrType>
  operator ::testing::Matcher<StatusOrType>() const {  // NOLINT: implicit by design
    using ValueType = typename std::decay_t<StatusOrType>::value_type;
    return ::testing::MakeMatcher(new IsOkAndHoldsMatcherImpl<const StatusOrType&>(
        ::testing::SafeMatcherCast<const ValueType&>(inner_)));
  }

 private:
  InnerMatcher inner_;
};

}  // namespace internal

// Matches a Status or StatusOr whose code and message match.
inline internal::StatusIsMatcher StatusIs(
    ::testing::Matcher<absl::StatusCode> code,
    ::testing::Matcher<const std::string&> message = ::testing::_) {
  return internal::StatusIsMatcher(std::move(code), std::move(message));
}

// Matches an OK StatusOr whose value matches `inner`.
template <typename InnerMatcher>
internal::IsOkAndHoldsMatcher<InnerMatcher> IsOkAndHolds(InnerMatcher inner) {
  return internal::IsOkAndHoldsMatcher<InnerMatcher>(std::move(inner));
}

MATCHER(IsOk, "is OK") {
  const absl::Status& status = internal::GetStatus(arg);
  *result_listener << "whose status is " << status;
  return status.ok();
}

}  // namespace roster::testing

#define ROSTER_TESTING_CONCAT_INNER(a, b) a##b
#define ROSTER_TESTING_CONCAT(a, b) ROSTER_TESTING_CONCAT_INNER(a, b)

#define EXPECT_OK(expr) EXPECT_THAT((expr), ::roster::testing::IsOk())
#define ASSERT_OK(expr) ASSERT_THAT((expr), ::roster::testing::IsOk())

#define ASSERT_OK_AND_ASSIGN(lhs, expr) \
  ROSTER_ASSERT_OK_AND_ASSIGN_IMPL(ROSTER_TESTING_CONCAT(roster_statusor_, __LINE__), lhs, expr)
#define ROSTER_ASSERT_OK_AND_ASSIGN_IMPL(statusor, lhs, expr) \
  auto statusor = (expr);                                     \
  ASSERT_TRUE(statusor.ok()) << statusor.status();            \
  lhs = std::move(statusor).value()
