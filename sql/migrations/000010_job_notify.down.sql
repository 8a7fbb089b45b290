DROP TRIGGER bespin_job_notify_delete ON river_job;
DROP TRIGGER bespin_job_notify_update ON river_job;
DROP FUNCTION bespin_job_notify();
