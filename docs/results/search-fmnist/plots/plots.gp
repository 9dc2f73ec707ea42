# Made by nos top --plot. Run from this folder: gnuplot plots.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1000,640 noenhanced font ",11"
} else {
  set terminal png size 1000,640 noenhanced
}
set key outside right top
set grid
set style fill transparent solid 0.15 noborder
set output "best_so_far.png"
set title "best reward so far (mean over runs, band: lowest to highest)"
set xlabel "proposals"
set ylabel "reward"
plot \
  "best_so_far.dat" using 1:3:4 with filledcurves lc rgb "#1f77b4" notitle, \
  "best_so_far.dat" using 1:2 with lines lw 2 lc rgb "#1f77b4" title "random (3 runs)", \
  "best_so_far.dat" using 1:6:7 with filledcurves lc rgb "#d62728" notitle, \
  "best_so_far.dat" using 1:5 with lines lw 2 lc rgb "#d62728" title "controller (3 runs)", \
  "best_so_far.dat" using 1:9:10 with filledcurves lc rgb "#2ca02c" notitle, \
  "best_so_far.dat" using 1:8 with lines lw 2 lc rgb "#2ca02c" title "ppo (3 runs)", \
  "best_so_far.dat" using 1:12:13 with filledcurves lc rgb "#9467bd" notitle, \
  "best_so_far.dat" using 1:11 with lines lw 2 lc rgb "#9467bd" title "evolution (3 runs)"
set output "rewards.png"
set title "reward of every child by batch"
set xlabel "batch"
plot \
  "rewards.dat" index 0 using 1:2 with points pt 7 ps 0.5 lc rgb "#1f77b4" title "random-seed1", \
  "rewards.dat" index 1 using 1:2 with points pt 7 ps 0.5 lc rgb "#d62728" title "random-seed2", \
  "rewards.dat" index 2 using 1:2 with points pt 7 ps 0.5 lc rgb "#2ca02c" title "random-seed3", \
  "rewards.dat" index 3 using 1:2 with points pt 7 ps 0.5 lc rgb "#9467bd" title "controller-seed1", \
  "rewards.dat" index 4 using 1:2 with points pt 7 ps 0.5 lc rgb "#ff7f0e" title "controller-seed2", \
  "rewards.dat" index 5 using 1:2 with points pt 7 ps 0.5 lc rgb "#8c564b" title "controller-seed3", \
  "rewards.dat" index 6 using 1:2 with points pt 7 ps 0.5 lc rgb "#e377c2" title "ppo-seed1", \
  "rewards.dat" index 7 using 1:2 with points pt 7 ps 0.5 lc rgb "#17becf" title "ppo-seed2", \
  "rewards.dat" index 8 using 1:2 with points pt 7 ps 0.5 lc rgb "#bcbd22" title "ppo-seed3", \
  "rewards.dat" index 9 using 1:2 with points pt 7 ps 0.5 lc rgb "#7f7f7f" title "evolution-seed1", \
  "rewards.dat" index 10 using 1:2 with points pt 7 ps 0.5 lc rgb "#1f77b4" title "evolution-seed2", \
  "rewards.dat" index 11 using 1:2 with points pt 7 ps 0.5 lc rgb "#d62728" title "evolution-seed3"
