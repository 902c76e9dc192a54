#include "tests/registry/registry_test_env.h"

#include <utility>

#include "gtest/gtest.h"

namespace roster::testing {

std::unique_ptr<registry::Registry> RegistryTestEnv::NewRegistry(
    registry::RegistryOptions options) {
  absl::StatusOr<std::unique_ptr<registry::Registry>> created =
      registry::NewRegistry(Uri(), std::move(options));
  if (!created.ok()) {
    ADD_FAILURE() << "NewRegistry(" << Uri() << "): " << created.status();
    return nullptr;
  }
  return std::move(created).value();
}

}  // namespace roster::testing
