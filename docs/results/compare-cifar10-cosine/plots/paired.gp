# Made by nos compare: each rule's paired difference of final test accuracy to the baseline (dot: mean over
# the paired seeds; whiskers: 95 % interval). Run from the report folder: gnuplot plots/paired.gp
if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
  set terminal pngcairo size 808,592 noenhanced font ",11"
} else {
  set terminal png size 808,592 noenhanced
}
set output "paired.png"
set title "minus adam, paired by seed"
set xlabel "difference of final test accuracy, cifar10-convnet (95 % interval)"
set grid xtics
unset key
set yrange [0.5:12.5]
set lmargin 33
set arrow from 0, graph 0 to 0, graph 1 nohead dt 2
plot "plots/paired.dat" using 2:1:3:4:ytic(5) with xerrorbars pt 7 ps 1.2 lw 2 lc rgb "#1f77b4"
