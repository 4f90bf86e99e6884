CREATE TYPE sales.order_status AS ENUM ('new', 'paid', 'shipped');
