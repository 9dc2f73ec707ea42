// Overloaded{lambdas...}: one visitor of a std::variant from a lambda per alternative (std::visit); a variant that
// gains an alternative fails the build at every visit that does not handle it.
#pragma once

namespace nos {

template <class... Ts>
struct Overloaded : Ts... {
  using Ts::operator()...;
};
template <class... Ts>
Overloaded(Ts...) -> Overloaded<Ts...>;

}  // namespace nos
