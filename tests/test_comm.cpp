// Expert-parallel communication modes: collective plans, kernel costs, the comm benchmark.
#include <catch2/catch.hpp>
