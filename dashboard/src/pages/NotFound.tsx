import { useEffect } from 'react';
import { EmptyState, PageHeader } from '../components/ui.tsx';
import { Link } from '../router.tsx';

export function NotFound() {
  useEffect(() => {
    document.title = 'Page not found · Keyward';
  }, []);
  return (
    <>
      <PageHeader title="Page not found" />
      <EmptyState
        title="There is nothing at this address"
        action={
          <Link to="/keys" className="btn btn-primary btn-md">
            Go to your API keys
          </Link>
        }
      >
        <p>The link may be wrong, or the page may have moved.</p>
      </EmptyState>
    </>
  );
}
