DROP VIEW IF EXISTS bespin_job_status;
