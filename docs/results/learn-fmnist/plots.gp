set terminal pngcairo size 900,560
set output "docs/results/learn-fmnist/loss.png"
set datafile separator ','
set logscale y
set xlabel 'optimizee step'
set ylabel 'mean loss over 64 held-out MLPs'
set key top right
set grid
set arrow from 100, graph 0 to 100, graph 1 nohead dt 2
plot "docs/results/learn-fmnist/loss_per_step_2x.csv" using 1:2 with lines lw 2 lc rgb "#1f77b4" title "lstm", "docs/results/learn-fmnist/loss_per_step_2x.csv" using 1:3 with lines lw 2 lc rgb "#d62728" title "adam", "docs/results/learn-fmnist/loss_per_step_2x.csv" using 1:4 with lines lw 2 lc rgb "#2ca02c" title "rmsprop", "docs/results/learn-fmnist/loss_per_step_2x.csv" using 1:5 with lines lw 2 lc rgb "#9467bd" title "sgd", "docs/results/learn-fmnist/loss_per_step_2x.csv" using 1:6 with lines lw 2 lc rgb "#ff7f0e" title "nesterov"
unset arrow
set terminal pngcairo size 1260,420
set output "docs/results/learn-fmnist/generalization.png"
set multiplot layout 1,3
set title "relu:20"
plot "docs/results/learn-fmnist/loss_per_step_relu-20.csv" using 1:2 with lines lw 2 lc rgb "#1f77b4" title "lstm", "docs/results/learn-fmnist/loss_per_step_relu-20.csv" using 1:3 with lines lw 2 lc rgb "#d62728" title "adam", "docs/results/learn-fmnist/loss_per_step_relu-20.csv" using 1:4 with lines lw 2 lc rgb "#2ca02c" title "rmsprop", "docs/results/learn-fmnist/loss_per_step_relu-20.csv" using 1:5 with lines lw 2 lc rgb "#9467bd" title "sgd", "docs/results/learn-fmnist/loss_per_step_relu-20.csv" using 1:6 with lines lw 2 lc rgb "#ff7f0e" title "nesterov"
set title "sigmoid:40"
plot "docs/results/learn-fmnist/loss_per_step_sigmoid-40.csv" using 1:2 with lines lw 2 lc rgb "#1f77b4" title "lstm", "docs/results/learn-fmnist/loss_per_step_sigmoid-40.csv" using 1:3 with lines lw 2 lc rgb "#d62728" title "adam", "docs/results/learn-fmnist/loss_per_step_sigmoid-40.csv" using 1:4 with lines lw 2 lc rgb "#2ca02c" title "rmsprop", "docs/results/learn-fmnist/loss_per_step_sigmoid-40.csv" using 1:5 with lines lw 2 lc rgb "#9467bd" title "sgd", "docs/results/learn-fmnist/loss_per_step_sigmoid-40.csv" using 1:6 with lines lw 2 lc rgb "#ff7f0e" title "nesterov"
set title "sigmoid:20-20"
plot "docs/results/learn-fmnist/loss_per_step_sigmoid-20-20.csv" using 1:2 with lines lw 2 lc rgb "#1f77b4" title "lstm", "docs/results/learn-fmnist/loss_per_step_sigmoid-20-20.csv" using 1:3 with lines lw 2 lc rgb "#d62728" title "adam", "docs/results/learn-fmnist/loss_per_step_sigmoid-20-20.csv" using 1:4 with lines lw 2 lc rgb "#2ca02c" title "rmsprop", "docs/results/learn-fmnist/loss_per_step_sigmoid-20-20.csv" using 1:5 with lines lw 2 lc rgb "#9467bd" title "sgd", "docs/results/learn-fmnist/loss_per_step_sigmoid-20-20.csv" using 1:6 with lines lw 2 lc rgb "#ff7f0e" title "nesterov"
unset multiplot
