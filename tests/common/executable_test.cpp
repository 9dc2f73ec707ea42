// The running executable's path and folder: here, this test binary.
#include <gtest/gtest.h>

#include <string>

#include "common/executable.h"

namespace nos {
namespace {

TEST(Executable, PathAndFolderAreThisTestBinary) {
  const std::string path = executable_path();
  const std::string name = "/test_common";
  ASSERT_GT(path.size(), name.size());
  EXPECT_EQ(path.substr(path.size() - name.size()), name);
  EXPECT_EQ(executable_dir(), path.substr(0, path.size() - name.size()));
}

}  // namespace
}  // namespace nos
