#!/bin/sh
# nos bench children on this 2-core CPU (LibTorch's default thread count), one model after another; the outputs
# are committed beside this script.
nos="${1:-build/nos}"
dir="$(dirname "$0")"
"$nos" bench children --task fmnist-convnet --k 1,2,4,8,16,32,64 --steps 10 --warmup 2 > "$dir/fmnist-convnet.txt"
"$nos" bench children --task fmnist-convnet --k 1,2,4,8,16 --steps 10 --warmup 2 --nchw > "$dir/fmnist-convnet-nchw.txt"
for task in fmnist-2c2d fmnist-mlp fmnist-mlp20 fmnist-logreg cifar10-3c3d cifar10-convnet; do
  "$nos" bench children --task "$task" --k 1,2,4,8,16 --steps 10 --warmup 2 > "$dir/$task.txt"
done
