# Made by nos compare: test accuracy and training loss per epoch, one line per rule (mean over the seeds
# with status ok), the band from the lowest to the highest seed. Run from the report folder: gnuplot plots/plots.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 1000,640 noenhanced font ",11"
} else {
  set terminal png size 1000,640 noenhanced
}
set key outside right top
set grid
set xlabel "epoch"
set xtics 1
set xrange [1:5]
set style fill transparent solid 0.15 noborder
set output "test_acc.png"
set title "test accuracy per epoch: fmnist-convnet, 5 seeds (band: min..max)"
set ylabel "test accuracy"
plot \
  "plots/row-1.dat" using 1:3:4 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-1.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "clip(g3, 0.001) + clip(m, 0.001)", \
  "plots/row-2.dat" using 1:3:4 with filledcurves lc rgb "#d62728" notitle, \
  "plots/row-2.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "drop(sign(g), 0.5) + sign(adam)", \
  "plots/row-3.dat" using 1:3:4 with filledcurves lc rgb "#2ca02c" notitle, \
  "plots/row-3.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "drop(adam, 0.1) + sign(m)", \
  "plots/row-4.dat" using 1:3:4 with filledcurves lc rgb "#9467bd" notitle, \
  "plots/row-4.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#9467bd" title "clip(g, 0.00173) + drop(m(0.898), 0.549)", \
  "plots/row-5.dat" using 1:3:4 with filledcurves lc rgb "#ff7f0e" notitle, \
  "plots/row-5.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "drop(sign(m), 0.5)", \
  "plots/row-6.dat" using 1:3:4 with filledcurves lc rgb "#8c564b" notitle, \
  "plots/row-6.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#8c564b" title "adam + drop(adam, 0.3)", \
  "plots/row-7.dat" using 1:3:4 with filledcurves lc rgb "#e377c2" notitle, \
  "plots/row-7.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#e377c2" title "signum", \
  "plots/row-8.dat" using 1:3:4 with filledcurves lc rgb "#17becf" notitle, \
  "plots/row-8.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#17becf" title "nesterov", \
  "plots/row-9.dat" using 1:3:4 with filledcurves lc rgb "#bcbd22" notitle, \
  "plots/row-9.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#bcbd22" title "torch-adamw", \
  "plots/row-10.dat" using 1:3:4 with filledcurves lc rgb "#7f7f7f" notitle, \
  "plots/row-10.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#7f7f7f" title "lion", \
  "plots/row-11.dat" using 1:3:4 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-11.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "adam"
set output "train_loss.png"
set title "training loss per epoch: fmnist-convnet, 5 seeds (band: min..max)"
set ylabel "mean training loss"
plot \
  "plots/row-1.dat" using 1:6:7 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-1.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "clip(g3, 0.001) + clip(m, 0.001)", \
  "plots/row-2.dat" using 1:6:7 with filledcurves lc rgb "#d62728" notitle, \
  "plots/row-2.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "drop(sign(g), 0.5) + sign(adam)", \
  "plots/row-3.dat" using 1:6:7 with filledcurves lc rgb "#2ca02c" notitle, \
  "plots/row-3.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "drop(adam, 0.1) + sign(m)", \
  "plots/row-4.dat" using 1:6:7 with filledcurves lc rgb "#9467bd" notitle, \
  "plots/row-4.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#9467bd" title "clip(g, 0.00173) + drop(m(0.898), 0.549)", \
  "plots/row-5.dat" using 1:6:7 with filledcurves lc rgb "#ff7f0e" notitle, \
  "plots/row-5.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "drop(sign(m), 0.5)", \
  "plots/row-6.dat" using 1:6:7 with filledcurves lc rgb "#8c564b" notitle, \
  "plots/row-6.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#8c564b" title "adam + drop(adam, 0.3)", \
  "plots/row-7.dat" using 1:6:7 with filledcurves lc rgb "#e377c2" notitle, \
  "plots/row-7.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#e377c2" title "signum", \
  "plots/row-8.dat" using 1:6:7 with filledcurves lc rgb "#17becf" notitle, \
  "plots/row-8.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#17becf" title "nesterov", \
  "plots/row-9.dat" using 1:6:7 with filledcurves lc rgb "#bcbd22" notitle, \
  "plots/row-9.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#bcbd22" title "torch-adamw", \
  "plots/row-10.dat" using 1:6:7 with filledcurves lc rgb "#7f7f7f" notitle, \
  "plots/row-10.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#7f7f7f" title "lion", \
  "plots/row-11.dat" using 1:6:7 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-11.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "adam"
