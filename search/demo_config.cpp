// The embedded demo config: configs/demo.yaml, compiled in (see search/CMakeLists.txt).
#include "search/demo_config.h"

namespace nos::search {

const std::string& demo_config_yaml() {
  static const std::string text =
#include "demo_config.inc"
      ;
  return text;
}

}  // namespace nos::search
