// Catch2 v2 entry point for calibrate_cpu_tests (the calibrator's CPU side; no GPU needed).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
