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
set title "test accuracy per epoch: cifar10-convnet, 5 seeds (band: min..max)"
set ylabel "test accuracy"
plot \
  "plots/row-1.dat" using 1:3:4 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-1.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "adam", \
  "plots/row-2.dat" using 1:3:4 with filledcurves lc rgb "#d62728" notitle, \
  "plots/row-2.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "adamw", \
  "plots/row-3.dat" using 1:3:4 with filledcurves lc rgb "#2ca02c" notitle, \
  "plots/row-3.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "momentum", \
  "plots/row-4.dat" using 1:3:4 with filledcurves lc rgb "#9467bd" notitle, \
  "plots/row-4.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#9467bd" title "nesterov", \
  "plots/row-5.dat" using 1:3:4 with filledcurves lc rgb "#ff7f0e" notitle, \
  "plots/row-5.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "lion", \
  "plots/row-6.dat" using 1:3:4 with filledcurves lc rgb "#8c564b" notitle, \
  "plots/row-6.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#8c564b" title "signum", \
  "plots/row-7.dat" using 1:3:4 with filledcurves lc rgb "#e377c2" notitle, \
  "plots/row-7.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#e377c2" title "powersign", \
  "plots/row-8.dat" using 1:3:4 with filledcurves lc rgb "#17becf" notitle, \
  "plots/row-8.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#17becf" title "powersign-cd", \
  "plots/row-9.dat" using 1:3:4 with filledcurves lc rgb "#bcbd22" notitle, \
  "plots/row-9.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#bcbd22" title "addsign", \
  "plots/row-10.dat" using 1:3:4 with filledcurves lc rgb "#7f7f7f" notitle, \
  "plots/row-10.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#7f7f7f" title "addsign-cd", \
  "plots/row-11.dat" using 1:3:4 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-11.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "addsign-ld", \
  "plots/row-12.dat" using 1:3:4 with filledcurves lc rgb "#d62728" notitle, \
  "plots/row-12.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "drop(sign(g), 0.5) + sign(adam)", \
  "plots/row-13.dat" using 1:3:4 with filledcurves lc rgb "#2ca02c" notitle, \
  "plots/row-13.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "adam + drop(adam, 0.3)"
set output "train_loss.png"
set title "training loss per epoch: cifar10-convnet, 5 seeds (band: min..max)"
set ylabel "mean training loss"
plot \
  "plots/row-1.dat" using 1:6:7 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-1.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "adam", \
  "plots/row-2.dat" using 1:6:7 with filledcurves lc rgb "#d62728" notitle, \
  "plots/row-2.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "adamw", \
  "plots/row-3.dat" using 1:6:7 with filledcurves lc rgb "#2ca02c" notitle, \
  "plots/row-3.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "momentum", \
  "plots/row-4.dat" using 1:6:7 with filledcurves lc rgb "#9467bd" notitle, \
  "plots/row-4.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#9467bd" title "nesterov", \
  "plots/row-5.dat" using 1:6:7 with filledcurves lc rgb "#ff7f0e" notitle, \
  "plots/row-5.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#ff7f0e" title "lion", \
  "plots/row-6.dat" using 1:6:7 with filledcurves lc rgb "#8c564b" notitle, \
  "plots/row-6.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#8c564b" title "signum", \
  "plots/row-7.dat" using 1:6:7 with filledcurves lc rgb "#e377c2" notitle, \
  "plots/row-7.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#e377c2" title "powersign", \
  "plots/row-8.dat" using 1:6:7 with filledcurves lc rgb "#17becf" notitle, \
  "plots/row-8.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#17becf" title "powersign-cd", \
  "plots/row-9.dat" using 1:6:7 with filledcurves lc rgb "#bcbd22" notitle, \
  "plots/row-9.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#bcbd22" title "addsign", \
  "plots/row-10.dat" using 1:6:7 with filledcurves lc rgb "#7f7f7f" notitle, \
  "plots/row-10.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#7f7f7f" title "addsign-cd", \
  "plots/row-11.dat" using 1:6:7 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-11.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "addsign-ld", \
  "plots/row-12.dat" using 1:6:7 with filledcurves lc rgb "#d62728" notitle, \
  "plots/row-12.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "drop(sign(g), 0.5) + sign(adam)", \
  "plots/row-13.dat" using 1:6:7 with filledcurves lc rgb "#2ca02c" notitle, \
  "plots/row-13.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#2ca02c" title "adam + drop(adam, 0.3)"
