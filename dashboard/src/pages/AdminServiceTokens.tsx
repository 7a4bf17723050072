import { useEffect } from 'react';
import { useSession } from '../session.ts';
import { AdminOnly } from './AdminUsers.tsx';
import { TokenList } from './Tokens.tsx';

export function AdminServiceTokens() {
  const { me } = useSession();
  useEffect(() => {
    document.title = 'Service tokens · Keyward';
  }, []);
  if (me.user.role !== 'admin') return <AdminOnly />;
  return <TokenList kind="service" />;
}
