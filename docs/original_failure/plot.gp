# Draws the two pictures of docs/original_failure.md from the runs' CSV files:
#   gnuplot docs/original_failure/plot.gp   (run from the repository root)
# Step counts are global: (epoch - 1) * 420 + step, 420 steps of 50 images per epoch.
set datafile separator ','
set terminal pngcairo size 1000,420 noenhanced font ',10'
dir = 'docs/original_failure/'

set output dir.'batches.png'
set title 'Batch accuracy over the first 3 epochs, class-sorted file, Adagrad 0.01, batch 50 (each point: one batch)'
set xlabel 'training step'
set ylabel 'accuracy of the batch'
set yrange [0:1.05]
set key bottom right
set grid
set xrange [0:1260]
# Without shuffling each epoch reads 140 steps of unknots, 140 of plus, 140 of minus trefoils.
do for [k=1:8] { set arrow from 140*k,0 to 140*k,1.05 nohead dt 2 lc rgb 'gray' }
set label 'unknots' at 20,0.06
set label 'plus' at 160,0.06
set label 'minus' at 300,0.06
plot dir.'none_batches.csv' every ::1 using (($1-1)*420+$2):4 with points pt 7 ps 0.3 lc rgb '#cc3333' title '--shuffle none', \
     dir.'shuffled_batches.csv' every ::1 using (($1-1)*420+$2):4 with points pt 7 ps 0.3 lc rgb '#3366cc' title 'shuffled (default)'

unset arrow
unset label
set xrange [*:*]
set output dir.'validation.png'
set title 'Validation accuracy after each epoch (1,500 images of each class)'
set xlabel 'epoch'
set ylabel 'validation accuracy'
set xtics 1
set yrange [0:1]
set key top left
plot dir.'none_history.csv' every ::1 using 1:5 with linespoints lw 2 lc rgb '#cc3333' title '--shuffle none', \
     dir.'shuffled_history.csv' every ::1 using 1:5 with linespoints lw 2 lc rgb '#3366cc' title 'shuffled (default)', \
     1.0/3 with lines dt 2 lc rgb 'gray' title 'chance (1/3)'
