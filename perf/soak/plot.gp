# Plots a soak's samples.csv (perf/soak/run.sh) into a PNG: five panels on
# one time axis. Call with -e "csv='…'; png='…'; cpu='…'".
set datafile separator ","
set terminal pngcairo size 1400,1600 font "DejaVu Sans,10"
set output png
set termoption noenhanced
set multiplot layout 5,1 title sprintf("kestrel soak, %s", cpu) font ",13"
set key at screen 0.72, graph 1 top left vertical Left reverse width 2
set grid
set lmargin 12
set rmargin at screen 0.66
set xlabel "time (minutes)"
set xrange [0:*]
set autoscale xfixmax
x(t) = t / 60.0

set title "Memory"
set ylabel "MiB"
set yrange [0:*]
plot csv skip 1 using (x($1)):($4/1024) with lines lw 2 title "RSS (VmRSS)", \
     ""  skip 1 using (x($1)):($5/1024) with lines lw 2 title "RssAnon", \
     ""  skip 1 using (x($1)):($9/1024) with lines lw 2 title "heap (kestrel_memory_heap_bytes)"

set title "CPU"
set ylabel "% of one core"
set y2label "load average"
set y2tics
set y2range [0:*]
plot csv skip 1 using (x($1)):7 with lines lw 2 title "kestrel utime+stime (% of one core)", \
     ""  skip 1 using (x($1)):3 axes x1y2 with lines lw 1 dt 2 title "machine 1-min load average (y2)"
unset y2label
unset y2tics

set title "Ring fill: unread records in the per-CPU BPF ring buffers (each worker's input)"
set ylabel "KiB pending"
plot csv skip 1 using (x($1)):($15/1024) with lines lw 2 title "max over CPUs", \
     ""  skip 1 using (x($1)):($16/1024) with lines lw 1 title "sum over CPUs"

set title "Queue lengths at each sample"
set ylabel "entries"
set yrange [0:*]
plot csv skip 1 using (x($1)):18 with lines lw 2 title "deferral queues (records, sum over workers)", \
     ""  skip 1 using (x($1)):20 with lines lw 2 title "output front queue (alerts)", \
     ""  skip 1 using (x($1)):21 with lines lw 2 title "output sink queues (alerts, largest)"

# What the script did: SIGUSR1 as full lines, SIGHUP as ticks at the top,
# exec bursts and trigger passes as ticks at the bottom.
marks(w) = system(sprintf("awk -F, 'NR > 1 && $25 ~ /%s/ { printf \"%%.3f \", $1 / 60 }' '%s'", w, csv))
do for [m in marks("usr1")] { set arrow from m, graph 0 to m, graph 1 nohead lc rgb "#e69f00" dt 2 lw 1 }
do for [m in marks("hup")] { set arrow from m, graph 0.88 to m, graph 1 nohead lc rgb "#0072b2" lw 2 }
do for [m in marks("burst")] { set arrow from m, graph 0 to m, graph 0.1 nohead lc rgb "#999999" lw 2 }
do for [m in marks("trigger")] { set arrow from m, graph 0 to m, graph 0.2 nohead lc rgb "#cc0000" lw 2 }
set title "Events and drops"
set ylabel "events/s processed"
set y2label "drops (cumulative)"
set y2tics
set y2range [0:*]
plot csv skip 1 using (x($1)):8 with lines lw 2 lc rgb "#9400d3" title "events/s processed", \
     ""  skip 1 using (x($1)):($12+$13+$14) axes x1y2 with lines lw 2 lc rgb "#009e73" title "drops: kernel + deferral overflow + decode (y2)", \
     NaN with lines lc rgb "#0072b2" lw 2 title "SIGHUP (tick at the top)", \
     NaN with lines lc rgb "#e69f00" dt 2 title "file renamed + SIGUSR1", \
     NaN with lines lc rgb "#999999" lw 2 title "exec burst starts (short tick)", \
     NaN with lines lc rgb "#cc0000" lw 2 title "trigger pass starts (long tick)"
unset multiplot
