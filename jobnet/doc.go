// Package jobnet will hold the job network: jobnet model, DAG, schedules and
// calendars, triggers, the run state machine and executors (issue D).
package jobnet
