module autoprocs.invalid/bench/rt

go 1.19
