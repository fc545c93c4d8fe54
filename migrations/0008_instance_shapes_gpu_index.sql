-- A search that needs a GPU checks only the shapes that have one: 291 of 2,137. This lets it
-- read those through an index instead of scanning every shape and its price arrays.
create index if not exists instance_shapes_gpu_idx
    on cloud.instance_shapes (shape_id) where gpu_model is not null;
