"""Pure Jenkins helpers for `ci jenkins`: connection, REST paths, the job's XML, answers, and the doctor's checks."""
