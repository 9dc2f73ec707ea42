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
set xrange [1:10]
set style fill transparent solid 0.15 noborder
set output "test_acc.png"
set title "test accuracy per epoch: cifar10-3c3d, 3 seeds (band: min..max)"
set ylabel "test accuracy"
set label 1 "no finished seeds yet" at graph 0.5, graph 0.5 center
plot [1:2] [0:1] NaN notitle
unset label 1
set output "train_loss.png"
set title "training loss per epoch: cifar10-3c3d, 3 seeds (band: min..max)"
set ylabel "mean training loss"
set label 1 "no finished seeds yet" at graph 0.5, graph 0.5 center
plot [1:2] [0:1] NaN notitle
unset label 1
