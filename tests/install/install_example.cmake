# ctest install_example: installs nos into WORK_DIR/prefix, builds examples/train_fmnist against it, runs 100 steps
# and checks that the loss falls (tests/CMakeLists.txt adds it only where DATA_DIR holds Fashion-MNIST).
foreach(var NOS_BUILD_DIR NOS_SOURCE_DIR WORK_DIR TORCH_DIR CXX DATA_DIR)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "install_example.cmake needs -D${var}=...")
  endif()
endforeach()
if(NOT EXISTS "${DATA_DIR}/train-images-idx3-ubyte.gz" OR NOT EXISTS "${DATA_DIR}/train-labels-idx1-ubyte.gz")
  message(FATAL_ERROR "no Fashion-MNIST in ${DATA_DIR} (apt install dataset-fashion-mnist)")
endif()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE code OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT code EQUAL 0)
    message(FATAL_ERROR "failed (${code}): ${ARGN}\n${out}\n${err}")
  endif()
  set(output "${out}" PARENT_SCOPE)
endfunction()

file(REMOVE_RECURSE "${WORK_DIR}")
run(${CMAKE_COMMAND} --install "${NOS_BUILD_DIR}" --prefix "${WORK_DIR}/prefix")
foreach(f lib/cmake/nos/nosConfig.cmake lib/cmake/nos/nosConfigVersion.cmake include/nos/optimizers/rule_optimizer.h
          bin/nos)
  if(NOT EXISTS "${WORK_DIR}/prefix/${f}")
    message(FATAL_ERROR "the install has no ${f}")
  endif()
endforeach()
run(${CMAKE_COMMAND} -S "${NOS_SOURCE_DIR}/examples/train_fmnist" -B "${WORK_DIR}/build" -DCMAKE_BUILD_TYPE=Release
    "-DCMAKE_CXX_COMPILER=${CXX}" "-DCMAKE_PREFIX_PATH=${WORK_DIR}/prefix" "-DTorch_DIR=${TORCH_DIR}")
run(${CMAKE_COMMAND} --build "${WORK_DIR}/build" -j 2)
run("${WORK_DIR}/build/train_fmnist" "${DATA_DIR}" 100)
message("${output}")
string(REGEX MATCHALL "loss [0-9.]+" losses "${output}")
list(LENGTH losses count)
if(count LESS 2)
  message(FATAL_ERROR "train_fmnist printed ${count} losses")
endif()
list(GET losses 0 first)
list(GET losses -1 last)
string(REPLACE "loss " "" first "${first}")
string(REPLACE "loss " "" last "${last}")
# if(LESS) compares the numbers as doubles.
if(NOT last LESS first)
  message(FATAL_ERROR "the loss did not fall: ${first} -> ${last}")
endif()
message("loss ${first} -> ${last}")

# A named rule, as the example takes it too (issue 35: 'powersign-cd' was an unknown operand).
run("${WORK_DIR}/build/train_fmnist" "${DATA_DIR}" 20 powersign-cd 0.01)
if(NOT output MATCHES "rule exp\\(cd\\*sign\\(g\\)\\*sign\\(m\\)\\)\\*g")
  message(FATAL_ERROR "train_fmnist powersign-cd ran another rule:\n${output}")
endif()

# The installed command: its help, and a found rule out of a search run in one step (issue 35): a tiny search, then
# PREFIX/bin/nos export @RUN:top1 --to pytorch, which Debian's python3 imports and steps.
run("${WORK_DIR}/prefix/bin/nos" --help)
if(NOT output MATCHES "Usage: nos")
  message(FATAL_ERROR "the installed nos printed no usage:\n${output}")
endif()
file(WRITE "${WORK_DIR}/search.yaml" "proposer: random\nbudget: 16\nbatch_size: 8\nworkers: 1\nseed: 4\n"
                                      "task:\n  name: rosenbrock\n  steps: 100\n  lr: 0.001\n")
run("${WORK_DIR}/prefix/bin/nos" search --config "${WORK_DIR}/search.yaml" --run-dir "${WORK_DIR}/run" --top 0)
run("${WORK_DIR}/prefix/bin/nos" export "@${WORK_DIR}/run:top1" --to pytorch -o "${WORK_DIR}/found_rule.py")
if(EXISTS /usr/bin/python3)
  file(WRITE "${WORK_DIR}/step.py" "import sys, torch\nsys.path.insert(0, sys.argv[1])\nimport found_rule\n"
       "cls = getattr(found_rule, found_rule.__all__[0])\nw = torch.nn.Parameter(torch.ones(3))\n"
       "opt = cls([w], lr=0.01)\nbefore = w.detach().clone()\n(w * w).sum().backward()\nopt.step()\n"
       "print('stepped', float((w.detach() - before).abs().sum()))\n")
  run(/usr/bin/python3 "${WORK_DIR}/step.py" "${WORK_DIR}")
  message("${output}")
  if(NOT output MATCHES "stepped")
    message(FATAL_ERROR "the exported module did not step:\n${output}")
  endif()
endif()
