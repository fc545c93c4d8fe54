-- The compute search now builds the shapes of the regions it is asked for itself, with the
-- prices of one basis only (tools/compute_sql.py): nothing calls this function any more.
drop function if exists cloud.instance_shapes_in(text[]);
