# ctest fit_cli: moesim-fit on the recorded sample writes a profile that loads back, and the
# simulator runs with it; bad input exits 2 naming the place.
# Usage: cmake -DMOESIM_FIT=<moesim-fit> -DMOESIM=<moesim> -DSRC=<source dir> -DWORK=<scratch dir> -P fit_cli_check.cmake
file(REMOVE_RECURSE "${WORK}")
file(MAKE_DIRECTORY "${WORK}")
include(${SRC}/tests/check_helpers.cmake)

set(sample ${SRC}/tests/data/calibration/h100_sample.json)
set(base ${SRC}/calibrate/profiles/h100-sxm-datasheet.toml)

# A good fit prints its notes and writes the profile (moesim-fit reloads it itself and checks it
# is identical).
expect_run(0 "device.hbm_efficiency = 0.8400.*permute: 2 of 13 points pooled.*profile written to"
           ${MOESIM_FIT} --measurements ${sample} --base ${base} --model deepseek-v3 --nvlink-GBps 450
           --out ${WORK}/h100.toml --device-name "H100 sample fit")
file(READ ${WORK}/h100.toml fitted)
foreach(expect "device = \"H100 sample fit\"" "source = \"measured\"" "model = \"deepseek-v3\"" "expert_us = \\[")
  if(NOT fitted MATCHES "${expect}")
    message(FATAL_ERROR "h100.toml lacks '${expect}':\n${fitted}")
  endif()
endforeach()

# The simulator loads it: the smoke scenario's own model is not deepseek-v3, so its phases say why
# they stay on the roofline.
expect_run(0 "roofline \\(profile tables are for deepseek-v3\\)" ${MOESIM} run ${SRC}/scenarios/smoke.toml
           --set "hardware.profile=\"${WORK}/h100.toml\"" -o ${WORK}/smoke)

# Two files of the same device merge; the second run's rows are appended.
expect_run(0 "profile written to" ${MOESIM_FIT} --measurements ${sample} --measurements ${sample} --base ${base}
           --out ${WORK}/twice.toml)

# --check-layers: the recorded H100 run refitted and replayed against its recorded layers.
set(run ${SRC}/calibrate/profiles/runs/h100-sxm-2026-11-23)
expect_run(0 "fitted profile vs recorded layers.*qwen3-30b-a3b +128 +4096 +zipf:1.2 +layer.*layer +median"
           ${MOESIM_FIT} --measurements ${run}/device.json --measurements ${run}/kernels-qwen3.json --base ${base}
           --model qwen3-30b-a3b --out ${WORK}/qwen3.toml --check-layers ${run}/validate-qwen3.json)
expect_run(2 "--check-layers: no recorded layer of qwen3-30b-a3b" ${MOESIM_FIT} --measurements ${run}/device.json
           --measurements ${run}/kernels-qwen3.json --base ${base} --model qwen3-30b-a3b --out ${WORK}/no-layers.toml
           --check-layers ${run}/validate-dsv3.json)
if(EXISTS ${WORK}/no-layers.toml)
  message(FATAL_ERROR "a fit whose --check-layers failed wrote no-layers.toml")
endif()
expect_run(2 "--check-attention: no recorded attention row of qwen3-30b-a3b" ${MOESIM_FIT} --measurements
           ${run}/device.json --measurements ${run}/kernels-qwen3.json --base ${base} --model qwen3-30b-a3b
           --out ${WORK}/no-attention.toml --check-attention ${run}/validate-qwen3.json)
if(EXISTS ${WORK}/no-attention.toml)
  message(FATAL_ERROR "a fit whose --check-attention failed wrote no-attention.toml")
endif()

# Bad input: exit 2 with the file and JSON pointer, or the option named.
file(READ ${sample} text)
string(REPLACE "\"version\": 1" "\"version\": 7" bad "${text}")
file(WRITE ${WORK}/bad.json "${bad}")
expect_run(2 "bad.json: /version: version 7 is not supported" ${MOESIM_FIT} --measurements ${WORK}/bad.json
           --base ${base} --out ${WORK}/bad.toml)
expect_run(2 "no kernel measurements for model \"qwen3-30b-a3b\"" ${MOESIM_FIT} --measurements ${sample}
           --base ${base} --model qwen3-30b-a3b --out ${WORK}/bad.toml)
expect_run(2 "--base is required" ${MOESIM_FIT} --measurements ${sample} --out ${WORK}/bad.toml)
if(EXISTS ${WORK}/bad.toml)
  message(FATAL_ERROR "a failed fit wrote bad.toml")
endif()
