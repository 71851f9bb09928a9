#pragma once
// Error types: InputError is the user's fault (bad file, bad value) and maps to exit code 2.
#include <stdexcept>
#include <string>

namespace moesim {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Bad input: the message already names the place ("file:line:col: ...").
class InputError : public Error {
 public:
  using Error::Error;
};

// A valid scenario that cannot run as configured (its experts and KV cache do not fit in GPU
// memory): still the user's input, but a sweep records it as an answer ("infeasible"), not a failure.
class Infeasible : public InputError {
 public:
  using InputError::InputError;
};

// Simulated time would reach kTimeLimitPs (core/units.hpp); the engine adds where it happened.
class TimeLimitError : public Error {
 public:
  using Error::Error;
};

}  // namespace moesim
