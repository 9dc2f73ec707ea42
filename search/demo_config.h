// The demo search `nos search` runs when given no config: the text of configs/demo.yaml.
#pragma once

#include <string>

namespace nos::search {

// configs/demo.yaml as it was when nos was built.
const std::string& demo_config_yaml();

}  // namespace nos::search
