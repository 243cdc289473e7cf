# Plots a soak's samples.csv (perf/soak/run.sh) into a PNG: five panels on
# one time axis. Call with -e "csv='…'; png='…'; cpu='…'".
set datafile separator ","
set terminal pngcairo size 1200,1500 font "DejaVu Sans,10"
set output png
set multiplot layout 5,1 title sprintf("kestrel soak, %s", cpu) font ",13"
set key outside right top vertical
set grid
set lmargin 12
set rmargin 34
set xlabel "time (minutes)"
x(t) = t / 60.0
isin(s, w) = strstrt(s, w) > 0

set title "Memory"
set ylabel "MiB"
set yrange [0:*]
plot csv skip 1 using (x($1)):($4/1024) with lines lw 2 title "RSS (VmRSS)", \
     ""  skip 1 using (x($1)):($5/1024) with lines lw 2 title "RssAnon", \
     ""  skip 1 using (x($1)):($9/1024) with lines lw 2 title "heap (kestrel_memory_heap_bytes)"

set title "CPU"
set ylabel "% of one core"
set y2label "load average (1 min)"
set y2tics
set y2range [0:*]
plot csv skip 1 using (x($1)):7 with lines lw 2 title "kestrel utime+stime", \
     ""  skip 1 using (x($1)):3 axes x1y2 with lines lw 1 dt 2 title "machine load average (y2)"
unset y2label
unset y2tics

set title "Ring fill (records waiting in the per-CPU BPF ring buffers)"
set ylabel "KiB pending"
plot csv skip 1 using (x($1)):($15/1024) with lines lw 2 title "max over CPUs", \
     ""  skip 1 using (x($1)):($16/1024) with lines lw 1 title "sum over CPUs"

set title "Queue lengths (at each sample)"
set ylabel "entries"
plot csv skip 1 using (x($1)):18 with lines lw 2 title "deferral queues (records, sum)", \
     ""  skip 1 using (x($1)):20 with lines lw 2 title "output front queue (alerts)", \
     ""  skip 1 using (x($1)):21 with lines lw 2 title "output sink queues (alerts, max)"

set title "Events and drops (marks: SIGHUP, SIGUSR1, exec bursts)"
set ylabel "events/s processed"
set y2label "drops (cumulative)"
set y2tics
set y2range [0:*]
plot csv skip 1 using (x($1)):8 with lines lw 2 title "events/s", \
     ""  skip 1 using (x($1)):($12+$13+$14) axes x1y2 with lines lw 2 title "kernel drops + deferral overflows\n+ decode errors (y2)", \
     ""  skip 1 using (x($1)):(isin(strcol(25), "hup") ? 0 : NaN) with points pt 9 ps 1.5 title "SIGHUP", \
     ""  skip 1 using (x($1)):(isin(strcol(25), "usr1") ? 0 : NaN) with points pt 7 ps 1.5 title "SIGUSR1 + rename", \
     ""  skip 1 using (x($1)):(isin(strcol(25), "burst") ? 0 : NaN) with points pt 2 ps 1 title "exec burst start"
unset multiplot
