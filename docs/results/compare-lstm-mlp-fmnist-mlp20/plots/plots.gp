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
set xrange [0.5:1.5]
set style fill transparent solid 0.15 noborder
set output "test_acc.png"
set title "test accuracy per epoch: fmnist-mlp20, 2 seeds (band: min..max)"
set ylabel "test accuracy"
plot \
  "plots/row-1.dat" using 1:3:4 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-1.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "adam", \
  "plots/row-2.dat" using 1:3:4 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-2.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#1f77b4" title "torch-adam", \
  "plots/row-3.dat" using 1:3:4 with filledcurves lc rgb "#d62728" notitle, \
  "plots/row-3.dat" using 1:2 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "lstm:docs/results/learn-fmnist/lstm-fmnist.pt"
set output "train_loss.png"
set title "training loss per epoch: fmnist-mlp20, 2 seeds (band: min..max)"
set ylabel "mean training loss"
plot \
  "plots/row-1.dat" using 1:6:7 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-1.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#1f77b4" title "adam", \
  "plots/row-2.dat" using 1:6:7 with filledcurves lc rgb "#1f77b4" notitle, \
  "plots/row-2.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 2 lc rgb "#1f77b4" title "torch-adam", \
  "plots/row-3.dat" using 1:6:7 with filledcurves lc rgb "#d62728" notitle, \
  "plots/row-3.dat" using 1:5 with linespoints lw 2 pt 7 ps 0.6 dt 1 lc rgb "#d62728" title "lstm:docs/results/learn-fmnist/lstm-fmnist.pt"
